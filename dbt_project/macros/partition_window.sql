{#-
    The predicate that keeps a partitioned model to the window Dagster asks for:
    `min_date` and `max_date` are inclusive ISO dates.
-#}
{% macro in_partition_window(date_column) -%}
    {{ date_column }} between cast('{{ var("min_date") }}' as date) and cast('{{ var("max_date") }}' as date)
{%- endmacro %}

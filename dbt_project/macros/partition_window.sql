{#-
    The predicate that keeps a partitioned model to the window Dagster asks for: inclusive
    ISO dates from DBT_MIN_DATE / DBT_MAX_DATE, else the vars `min_date` / `max_date`.
    Environment variables, because dbt re-parses the whole project when `--vars` change but
    only the files that read a changed environment variable (here the three daily marts).
-#}
{% macro in_partition_window(date_column) -%}
    {{ date_column }} between cast('{{ env_var("DBT_MIN_DATE", var("min_date")) }}' as date)
    and cast('{{ env_var("DBT_MAX_DATE", var("max_date")) }}' as date)
{%- endmacro %}

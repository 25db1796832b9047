{#- An integer amount of cents as a decimal amount of the currency. -#}
{% macro cents_to_amount(column_name, scale=2) -%}
    cast({{ column_name }} / 100.0 as decimal(16, {{ scale }}))
{%- endmacro %}

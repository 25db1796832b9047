{#-
    Integer cents to dollars as decimal(16, 2). Multiplying a decimal by the decimal
    literal 0.01 stays exact in DuckDB; dividing by 100 would go through a double.
-#}
{% macro cents_to_dollars(column_name) -%}
    cast(cast({{ column_name }} as decimal(16, 0)) * 0.01 as decimal(16, 2))
{%- endmacro %}

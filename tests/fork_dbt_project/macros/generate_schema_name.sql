{#-
    dbt's own default, written out: `<target schema>_<custom schema>` (`main_base`,
    `main_reporting` on DuckDB), unlike the template's verbatim `staging`/`marts`.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

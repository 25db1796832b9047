{#-
    A deterministic key from several columns (what dbt_utils.generate_surrogate_key
    does): nulls become a marker so (null, 'a') and ('', 'a') stay apart.
-#}
{% macro surrogate_key(column_names) -%}
    md5(concat_ws('|'
    {%- for column_name in column_names -%}
        , coalesce(cast({{ column_name }} as varchar), '_null_')
    {%- endfor -%}
    ))
{%- endmacro %}

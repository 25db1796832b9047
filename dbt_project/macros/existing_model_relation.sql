{#-
    The warehouse relation of the model named `model_name`, looked up without `ref()`
    (so the caller gains no dependency on it), or none if it has not been built yet.
-#}
{% macro existing_model_relation(model_name) %}
    {% if not execute %}
        {{ return(none) }}
    {% endif %}
    {% set models = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') %}
    {% set matches = models | selectattr('name', 'equalto', model_name) | list %}
    {% if matches | length != 1 %}
        {{ exceptions.raise_compiler_error("No single model is named " ~ model_name) }}
    {% endif %}
    {{ return(adapter.get_relation(
        database=matches[0].database,
        schema=matches[0].schema,
        identifier=matches[0].alias,
    )) }}
{% endmacro %}

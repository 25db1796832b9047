{#-
    A foreign key tested from the parent's side: every non-null `column` of the model
    named `child_model` must exist in this column. Same check as `relationships`, but
    attached to the parent.

    Why: partitioned models (tag `partitioned`) and unpartitioned ones are built by two
    separate `dbt build` invocations, and dbt's default (eager) indirect selection runs
    a test in every invocation that selects ANY of its parents, and drops it from every
    invocation that excludes one. A `relationships` test from `orders` to `customers`
    would run in the partitioned step, against a `customers` built one cycle ago (or not
    at all in a fresh warehouse), and never in the step that builds `customers`.

    So the child is named, not ref'd: the test depends only on the parent and runs with
    it, after the partitioned step. A child table that does not exist yet has no keys,
    so nothing can dangle: the test passes.
-#}
{% test referenced_by(model, column_name, child_model, column) %}

    with child_keys as (

    {% if existing_model_relation(child_model) is not none %}
        select distinct {{ column }} as key_value
        from {{ existing_model_relation(child_model) }}
        where {{ column }} is not null
    {% else %}
        select cast(null as varchar) as key_value
        where false
    {% endif %}

    ),

    parent_keys as (
        select {{ column_name }} as key_value
        from {{ model }}
    )

    select child_keys.key_value
    from child_keys
    left join parent_keys
        on child_keys.key_value = parent_keys.key_value
    where parent_keys.key_value is null

{% endtest %}

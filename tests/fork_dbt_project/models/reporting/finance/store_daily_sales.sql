{#-
    Built one day at a time by dbt (microbatch): dbt reads base_orders one day per batch
    through its `event_time`, and a re-run of a day replaces that day's rows.
    FORK_FAIL_BATCH_DAY makes the batch of one day fail, as bad data would: the platform's
    tests use it to show a range with one failed day.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy='microbatch',
        event_time='order_day',
        batch_size='day',
        begin='2024-01-01',
    )
}}

with

orders as (

    select * from {{ ref('base_orders') }}

),

stores as (

    select * from {{ ref('base_stores') }}

),

final as (

    select
        stores.store_name,
        orders.order_day,
        count(*) as order_count,
        sum(orders.total_amount) as revenue

    from orders
    inner join stores
        on orders.store_id = stores.store_id
    group by stores.store_name, orders.order_day

)

select * from final
{%- if model.batch and env_var('FORK_FAIL_BATCH_DAY', '') == model.batch.event_time_start.strftime('%Y-%m-%d') %}
    where error('the batch of ' || '{{ env_var("FORK_FAIL_BATCH_DAY") }}' || ' is made to fail')
        is not null
{%- endif %}

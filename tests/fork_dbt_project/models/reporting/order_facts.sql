{{
    config(
        materialized='incremental',
        unique_key='order_id',
    )
}}

with

orders as (

    select * from {{ ref('base_orders') }}
    {% if is_incremental() %}
        -- The latest order held, and everything after it: a day loaded late is picked up.
        where ordered_at >= (select max(ordered_at) from {{ this }})
    {% endif %}

),

items_per_order as (

    select
        order_id,
        count(*) as item_count

    from {{ ref('base_order_items') }}
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.store_id,
        orders.ordered_at,
        orders.order_day,
        orders.subtotal_amount,
        orders.tax_amount,
        orders.total_amount,
        coalesce(items_per_order.item_count, 0) as item_count

    from orders
    left join items_per_order
        on orders.order_id = items_per_order.order_id

)

select * from final

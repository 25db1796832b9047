with

order_items as (

    select * from {{ ref('stg_order_items') }}

),

orders as (

    select * from {{ ref('stg_orders') }}
    -- An item belongs to its order's day: the window is applied through the order.
    where {{ in_partition_window('order_date') }}

),

final as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.ordered_at,
        orders.order_date

    from order_items
    inner join orders
        on order_items.order_id = orders.order_id

)

select * from final

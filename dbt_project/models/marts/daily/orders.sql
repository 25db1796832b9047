with

orders as (

    select * from {{ ref('stg_orders') }}
    -- Always, not only when incremental: a partition run builds exactly its window.
    where {{ in_partition_window('order_date') }}

),

order_items as (

    select * from {{ ref('stg_order_items') }}

),

items_per_order as (

    select
        order_items.order_id,
        count(*) as item_count

    from order_items
    -- Count only the window's orders: the join keeps partition runs small.
    inner join orders
        on order_items.order_id = orders.order_id
    group by order_items.order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.location_id,
        orders.ordered_at,
        orders.order_date,
        orders.subtotal,
        orders.tax_paid,
        orders.order_total,
        coalesce(items_per_order.item_count, 0) as item_count

    from orders
    left join items_per_order
        on orders.order_id = items_per_order.order_id

)

select * from final

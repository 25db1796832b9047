with

orders as (

    select * from {{ ref('orders') }}
    where {{ in_partition_window('order_date') }}

),

final as (

    select
        order_date,
        location_id,
        count(*) as order_count,
        cast(sum(subtotal) as decimal(18, 2)) as revenue,
        cast(sum(tax_paid) as decimal(18, 2)) as tax_paid,
        cast(sum(order_total) as decimal(18, 2)) as order_total

    from orders
    group by order_date, location_id

)

select * from final

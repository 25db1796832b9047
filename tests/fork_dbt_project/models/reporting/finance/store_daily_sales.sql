with

orders as (

    select * from {{ ref('order_facts') }}

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

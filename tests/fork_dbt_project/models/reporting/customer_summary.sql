with

orders as (

    select * from {{ ref('order_facts') }}

),

customers as (

    select * from {{ ref('base_customers') }}

),

final as (

    select
        customers.customer_id,
        customers.customer_name,
        count(*) as order_count,
        sum(orders.total_amount) as lifetime_spend

    from customers
    inner join orders
        on customers.customer_id = orders.customer_id
    group by customers.customer_id, customers.customer_name

)

select * from final

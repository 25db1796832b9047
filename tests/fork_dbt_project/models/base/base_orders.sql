{{ config(event_time="order_day") }}

with

source as (

    select * from {{ source('ecom', 'raw_orders') }}

),

renamed as (

    select
        id as order_id,
        customer_id,
        store_id,
        ordered_at,
        cast(ordered_at as date) as order_day,
        {{ fork_utils.cents_to_amount('subtotal') }} as subtotal_amount,
        {{ fork_utils.cents_to_amount('tax_paid') }} as tax_amount,
        {{ fork_utils.cents_to_amount('order_total') }} as total_amount

    from source

)

select * from renamed

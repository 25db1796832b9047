{{ config(tags=['partitioned']) }}

with

source as (

    select * from {{ source('raw', 'orders') }}

),

renamed as (

    select
        ---------- ids
        id as order_id,
        customer_id,
        store_id as location_id,

        ---------- timestamps (naive UTC, whatever the session time zone)
        cast(ordered_at at time zone 'UTC' as timestamp) as ordered_at,
        cast(ordered_at at time zone 'UTC' as date) as order_date,

        ---------- numerics
        subtotal as subtotal_cents,
        tax_paid as tax_paid_cents,
        order_total as order_total_cents,
        {{ cents_to_dollars('subtotal') }} as subtotal,
        {{ cents_to_dollars('tax_paid') }} as tax_paid,
        {{ cents_to_dollars('order_total') }} as order_total

    from source

)

select * from renamed

with

source as (

    select * from {{ source('ecom', 'raw_products') }}

),

renamed as (

    select
        sku,
        name as product_name,
        type as product_type,
        {{ fork_utils.cents_to_amount('price') }} as price_amount

    from source

)

select * from renamed

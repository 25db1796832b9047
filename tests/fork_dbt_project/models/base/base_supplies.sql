with

source as (

    select * from {{ source('ecom', 'raw_supplies') }}

),

renamed as (

    select
        id as supply_id,
        sku,
        name as supply_name,
        {{ fork_utils.cents_to_amount('cost') }} as cost_amount,
        perishable

    from source

)

select * from renamed

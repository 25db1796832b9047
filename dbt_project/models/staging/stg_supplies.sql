with

source as (

    select * from {{ source('raw', 'supplies') }}

),

renamed as (

    select
        ---------- ids
        -- `id` names a supply, which several products use: (id, sku) is the key.
        {{ surrogate_key(['id', 'sku']) }} as supply_uuid,
        id as supply_id,
        sku as product_id,

        ---------- text
        name as supply_name,

        ---------- numerics
        cost as supply_cost_cents,
        {{ cents_to_dollars('cost') }} as supply_cost,

        ---------- booleans
        perishable as is_perishable_supply

    from source

)

select * from renamed

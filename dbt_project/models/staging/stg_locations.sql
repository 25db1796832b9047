with

source as (

    select * from {{ source('raw', 'stores') }}

),

renamed as (

    select
        ---------- ids
        id as location_id,

        ---------- text
        name as location_name,

        ---------- numerics
        cast(tax_rate as double precision) as tax_rate,

        ---------- timestamps
        cast(opened_at at time zone 'UTC' as date) as opened_date

    from source

)

select * from renamed

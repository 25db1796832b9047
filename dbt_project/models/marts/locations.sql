with

locations as (

    select * from {{ ref('stg_locations') }}

),

final as (

    select
        location_id,
        location_name,
        tax_rate,
        opened_date

    from locations

)

select * from final

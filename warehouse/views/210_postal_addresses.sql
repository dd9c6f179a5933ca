-- grain: one row per contact with a postal address: the latest one any source carried, with that source
CREATE OR REPLACE VIEW postal_addresses AS
with seen as (
    select contact_id, postal_address, 'contacts' as source_table, source_file, ingested_at as seen_at
    from contact_records where postal_address is not null and contact_id is not null
    union all
    select contact_id, postal_address, 'donations', source_file, donated_at
    from donations where postal_address is not null and contact_id is not null
    union all
    select contact_id, postal_address, 'partners', source_file, ingested_at
    from partners where postal_address is not null and contact_id is not null
),

final as (
    select contact_id, postal_address, source_table, source_file, seen_at
    from seen
    qualify row_number() over (partition by contact_id order by seen_at desc, source_table, postal_address) = 1
)

select * from final;

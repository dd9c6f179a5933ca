-- grain: one row per pair of contacts sharing a normalised name but no identity: for review, never merged
CREATE OR REPLACE VIEW possible_duplicates AS
with named as (
    select
        contact_id,
        full_name,
        email,
        phone,
        kind,
        lower(trim(regexp_replace(strip_accents(full_name), '\s+', ' ', 'g'))) as name_key
    from contacts
    where full_name is not null and trim(full_name) <> ''
),

final as (
    select
        a.name_key,
        a.contact_id as contact_id_a,
        a.full_name  as full_name_a,
        a.email      as email_a,
        a.phone      as phone_a,
        b.contact_id as contact_id_b,
        b.full_name  as full_name_b,
        b.email      as email_b,
        b.phone      as phone_b
    from named a
    join named b
      on a.name_key = b.name_key
     and a.kind = b.kind
     and a.contact_id < b.contact_id
)

select * from final;

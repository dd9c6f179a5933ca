-- grain: one row per fact whose contact does not exist (must return nothing)
select 'interactions' as table_name, interaction_id as key from interactions
where contact_id is not null and contact_id not in (select contact_id from contacts)
union all
select 'donations', donation_id from donations
where contact_id is not null and contact_id not in (select contact_id from contacts)
union all
select 'contact_identities', identity_type || ':' || identity_value from contact_identities
where contact_id not in (select contact_id from contacts)
union all
select 'donations_net', donation_id from donations
where amount_refunded > amount or net_amount_base < 0

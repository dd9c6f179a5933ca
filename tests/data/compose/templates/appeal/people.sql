-- grain: one row per person (not organisations)
select contact_id from contacts where kind = 'person'

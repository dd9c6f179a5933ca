-- grain: one row per organisation with an agreement of type 'licensee', whatever its stage or dates
select distinct a.contact_id
from partners a
join contacts c on c.contact_id = a.contact_id
where c.kind = 'organisation'
  and lower(trim(a.partner_type)) = 'licensee'

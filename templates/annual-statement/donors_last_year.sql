-- grain: one row per donor with a gift (net amount > 0) in the calendar year before the as-of date
select distinct d.contact_id
from donations d, compose_params p
where d.contact_id is not null and d.net_amount_base > 0
  and d.donated_at >= p.last_year_starts_at and d.donated_at < p.this_year_starts_at

-- grain: one row per donor who gave in euro (an analyst's own segment: adding this file is all it takes)
select distinct contact_id
from donor_gifts
where currency = 'EUR'

-- grain: one row per donor who gave Last Year But Unfortunately Not This year (fiscal years)
select contact_id
from donor_measures
where gave_last_year and not gave_this_year

-- grain: one row per donor with gifts in 3+ distinct calendar months among the gifts of the last 6 months
select contact_id
from donor_measures
where months_given_last_6_months >= 3

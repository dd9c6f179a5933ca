-- grain: one row per donor who gave Some Year (before last) But Unfortunately Not This year, nor last year
select contact_id
from donor_measures
where gave_before_last_year and not gave_last_year and not gave_this_year

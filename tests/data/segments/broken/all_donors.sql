-- grain: one row per donor (the good file among the broken ones)
select contact_id from donor_measures;

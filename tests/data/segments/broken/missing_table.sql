-- grain: a table that is not there
select contact_id from donors_that_do_not_exist

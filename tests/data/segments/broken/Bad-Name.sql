-- grain: fine SQL, but the name is no segment name
select contact_id from contacts

-- grain: two statements
select contact_id from contacts;
select 1 as contact_id;

-- grain: forgets the contact_id column
select full_name from contacts

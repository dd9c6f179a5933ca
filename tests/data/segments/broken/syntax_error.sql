-- grain: a typo
selec contact_id from contacts

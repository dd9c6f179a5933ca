-- Postal addresses that exports carry (Mailchimp `Address`, PayPal's address columns, a partner
-- agreement's `address`), kept on the record that brought them so each keeps its source and time;
-- the view `postal_addresses` gives each contact its latest one. Letters go to that address.

-- grain of each table unchanged: the address is one more column of the record that carried it
ALTER TABLE contact_records ADD COLUMN postal_address VARCHAR;   -- lines separated by '\n'
ALTER TABLE donations ADD COLUMN postal_address VARCHAR;
ALTER TABLE partners ADD COLUMN postal_address VARCHAR;

-- grain: one row per message added, changed or removed since the last tracking run
select
    coalesce(f.message_id, t.message_id) as message_id,
    f.contact_id,
    t.contact_id as previous_contact_id,
    f.smtp_message_id,
    t.smtp_message_id as previous_smtp_message_id,
    f.fingerprint,
    f.message_id is null as removed
from tracking_message_fingerprints f
full join tracked_messages t on t.message_id = f.message_id
where f.fingerprint is distinct from t.fingerprint

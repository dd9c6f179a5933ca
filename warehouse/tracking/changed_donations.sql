-- grain: one row per gift added, changed (a refund, a merge) or removed since the last tracking run
select
    coalesce(f.donation_id, t.donation_id) as donation_id,
    f.contact_id,
    t.contact_id as previous_contact_id,
    f.fingerprint,
    f.donation_id is null as removed
from tracking_donation_fingerprints f
full join tracked_donations t on t.donation_id = f.donation_id
where f.fingerprint is distinct from t.fingerprint

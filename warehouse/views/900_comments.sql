-- What each table and view holds, for analysts: shown by `SELECT table_name, comment FROM duckdb_tables()`
-- and `duckdb_views()`. Re-applied on every migrate, so it stays in step with the files.
-- A new table or view adds its COMMENT here.

-- tables (001_core, 003_segments)
COMMENT ON TABLE contacts IS 'One row per resolved person or organisation (kind). email is the primary normalised address, phone E.164; merged contacts are gone (see contact_merges).';
COMMENT ON TABLE contact_identities IS 'Each email, phone, Facebook thread or external id ever seen, linked to the contact it resolved to.';
COMMENT ON TABLE contact_merges IS 'Every merge of two contacts: which was kept, which merged into it, the shared identity and when. Lets an operator explain or undo a merge.';
COMMENT ON TABLE interactions IS 'One row per event on any channel, both directions (inbound = from the contact). occurred_at is TIMESTAMPTZ; the local date is timezone(tz, occurred_at).';
COMMENT ON TABLE donations IS 'One row per gift. A refund reduces its gift (amount_refunded), never a row of its own; net_amount_base = amount - amount_refunded in the base currency. Donor segments count net_amount_base > 0.';
COMMENT ON TABLE donation_refunds IS 'One row per refund seen in an export; folded into donations.amount_refunded.';
COMMENT ON TABLE volunteer_shifts IS 'One row per volunteer shift: who, when it started (TIMESTAMPTZ), hours, activity.';
COMMENT ON TABLE partners IS 'One row per partner organisation and agreement: type, objectives, each side''s responsibilities and contributions, period (starts_on .. ends_on inclusive, no end = open-ended), cooperation mechanism, benefit sharing, liaison.';
COMMENT ON TABLE consent_events IS 'Every consent change seen, per address and channel (history). The view consents gives the current state.';
COMMENT ON TABLE suppressions IS 'Addresses that must not be contacted on a channel: hard bounces, cleaned, erased.';
COMMENT ON TABLE segment_membership IS 'Current segment membership: one row per contact and segment, since = the as-of date it entered. Recomputed by legatura segment.';
COMMENT ON TABLE segment_history IS 'Every stay of a contact in a segment: entered_at and exited_at are as-of dates of segment runs (exited_at NULL = still a member).';
COMMENT ON TABLE segment_runs IS 'One row per as-of date and segment: members, entered, exited, or the error of a failed segment file; retired = its file was removed.';
COMMENT ON TABLE messages IS 'The outbox and its history: one row per message, status queued / sending / sent / failed / bounced / suppressed (with suppression_reason).';
COMMENT ON TABLE ingested_files IS 'Ledger of every file seen by ingest: sha256, rows read, loaded, duplicate, quarantined (counted from the file''s per-record outcomes, see record_outcome_ranges); file_id names the row.';
COMMENT ON TABLE quarantine IS 'Every rejected input record: source file, line or key, the reason in one sentence, the raw text; file_id and record_no (1-based) name the ledger file and the record.';
COMMENT ON TABLE record_outcome_ranges IS 'What became of every record of every ingested file, as runs of consecutive record numbers (1-based) with one outcome: loaded, duplicate or quarantined. The view record_outcomes lists them one row per record.';
COMMENT ON TABLE message_responses IS 'For each outbound message that got a response: the responding interaction, when, and how it matched (reply, same channel, gift). Filled by legatura track.';
COMMENT ON TABLE request_answers IS 'For each inbound request that got an answer: the answering interaction and when. Filled by legatura track.';
COMMENT ON TABLE settings IS 'Key/value settings the views read, written by the flows from legatura.toml (segments.* by legatura segment, sla_hours etc. by legatura track).';
COMMENT ON TABLE schema_migrations IS 'Which numbered migrations (warehouse/migrations/NNN_name.sql) have been applied, and when.';

-- views (010-030, 300)
COMMENT ON VIEW record_outcomes IS 'One row per record of every ingested file (since migration 009): file_id, source_file, sha256, record_no (1..rows_read) and its outcome: loaded, duplicate or quarantined.';
COMMENT ON VIEW unaccounted_records IS 'Ledger files whose records 1..rows_read do not each have exactly one outcome, whose counts differ from their outcomes, or whose quarantine rows are not their quarantined records. Must be empty (warehouse/checks/record_outcomes.sql).';
COMMENT ON VIEW consents IS 'Current consent per address and channel: the latest explicit choice wins (an opt-out at the same instant beats an opt-in), with its contact.';
COMMENT ON VIEW possible_duplicates IS 'Pairs of contacts with the same normalised name but no shared identity: for review, never merged automatically.';
COMMENT ON VIEW response_times IS 'One row per sent message: when the contact responded (reply, same channel within the attribution window, or a gift) and response_seconds.';
COMMENT ON VIEW inbound_response_times IS 'One row per inbound interaction awaiting an answer: when we first answered, first_response_seconds, and sla_breached.';
COMMENT ON VIEW segment_parameters IS 'One row: the as-of date and configuration of the last segment run (time zone, fiscal-year start, major-donor threshold, base currency) and the fiscal years around it.';
COMMENT ON VIEW donor_gifts IS 'One row per gift that counts for donor segments (net amount > 0) on or before the as-of date, with its local calendar date (gift_on) and fiscal year.';
COMMENT ON VIEW donor_measures IS 'One row per donor as of the last segment run: first and last gift, count, total and largest gift, this and last fiscal year, last 12 / 36 months, months given in the last 6, recurring. Net amounts in base currency.';
COMMENT ON VIEW volunteer_measures IS 'One row per volunteer as of the last segment run: first and last shift (local dates), shifts, hours.';
COMMENT ON VIEW donor_rfm IS 'One row per donor: recency, frequency and monetary scores 1-5 (5 best), quintiles over the donors of the last 36 months; older donors score 1-1-1.';
COMMENT ON VIEW donor_retention IS 'One row per fiscal year: donors, new, retained (gave last year and this year) and the FEP retention rate = retained / donors last year; lapsed and recaptured too. The as-of year counts to the as-of date.';
COMMENT ON VIEW donor_recapture IS 'One row per fiscal year: lapsed donors (gave before last year, not last year), those who gave again this year, and the FEP recapture rate.';

-- columns whose meaning is not obvious from the name
COMMENT ON COLUMN donations.net_amount_base IS '(amount - amount_refunded) converted to the base currency: to_base_currency(amount - amount_refunded, fx_rate, 2), rounded half-up to the cent';
COMMENT ON COLUMN donations.fx_rate IS 'the exact rate ([money] fx) the gift was converted at; 1 for the base currency';
COMMENT ON COLUMN segment_membership.since IS 'as-of date of the segment run the contact entered at';
COMMENT ON COLUMN segment_history.exited_at IS 'as-of date of the segment run the contact left at; NULL while a member';
COMMENT ON COLUMN segment_parameters.this_year IS 'the fiscal year of the as-of date, named by the calendar year it starts in';
COMMENT ON COLUMN donor_measures.months_given_last_6_months IS 'distinct calendar months with a gift among the gifts of the last 6 months';
COMMENT ON COLUMN donor_measures.recurring IS 'gifts in 3 or more distinct calendar months of the last 6 (the donor_recurring segment)';
COMMENT ON COLUMN donor_measures.has_recurring_gift IS 'a gift flagged recurring by its source (a subscription or standing order)';
COMMENT ON COLUMN donor_rfm.scored_in_window IS 'false: no gift in the last 36 months, so scores are 1-1-1';
COMMENT ON COLUMN donor_retention.is_complete IS 'false for the as-of date''s fiscal year: counted to the as-of date only';

-- grain: one row per source record that only says who someone is (a Mailchimp member row, a failed
-- Stripe attempt, a contacts CSV row): keyed like every other record, so a repeat counts as a duplicate
CREATE TABLE contact_records (
    record_key   VARCHAR NOT NULL,   -- the source's id ('stripe:ch_…') or a hash of the normalised record
    contact_id   BIGINT,
    source_file  VARCHAR,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE contact_records IS 'Every source record that only tells who someone is (a Mailchimp member, a failed payment attempt, a contacts CSV row), keyed so that a repeated record counts as a duplicate.';

-- grain: one row per source record that is read, valid, and by rule carries nothing to load
-- (a PayPal withdrawal or transfer): keyed, so an overlapping export counts it as a duplicate
CREATE TABLE ignored_records (
    record_key   VARCHAR NOT NULL,   -- e.g. 'paypal:<Transaction ID>'
    reason       VARCHAR NOT NULL,   -- why it loads nothing, e.g. 'General Withdrawal: not a gift'
    source_file  VARCHAR,
    ingested_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE ignored_records IS 'Valid source records that by rule load nothing (a PayPal withdrawal or transfer), with the reason; keyed so an overlapping export counts them as duplicates.';

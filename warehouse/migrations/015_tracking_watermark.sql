-- Response times kept consistent by a watermark (issue 9): what the last tracking run covered, so
-- any command can tell that tracking is behind the warehouse, and recompute only the contacts whose
-- interactions, messages or gifts changed since.

-- grain: one row per input tracking follows ('interactions', 'contact_merges', 'messages',
-- 'donations') plus one 'parameters' row; written in the transaction that writes the results
CREATE TABLE tracking_watermarks (
    source        VARCHAR PRIMARY KEY,
    row_count     BIGINT,
    covered_until TIMESTAMPTZ,   -- the latest interactions.ingested_at / contact_merges.merged_at covered
    fingerprint   UBIGINT,       -- bit_xor of the row fingerprints (messages, donations)
    parameters    VARCHAR,       -- 'parameters' row: the settings and matching SQL the results follow
    tracked_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- grain: one row per message as the last tracking run saw it (finds what compose and send changed);
-- no key index: tracking replaces many rows at once (see 005_tracking.sql)
CREATE TABLE tracked_messages (
    message_id      VARCHAR NOT NULL,
    contact_id      BIGINT,
    smtp_message_id VARCHAR,
    fingerprint     UBIGINT NOT NULL
);

-- grain: one row per gift as the last tracking run saw it (refunds and merges change gifts in place)
CREATE TABLE tracked_donations (
    donation_id VARCHAR NOT NULL,
    contact_id  BIGINT,
    fingerprint UBIGINT NOT NULL
);

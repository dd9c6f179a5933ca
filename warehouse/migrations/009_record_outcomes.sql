-- Record-level accounting and exact exchange (issue 9).
-- Every record a file is read as ends in exactly one outcome, kept as runs of consecutive record numbers;
-- the ledger's counts are counted from them, and warehouse/checks/record_outcomes.sql proves each ledger
-- file's records 1..rows_read have exactly one outcome. Ledger rows written before this migration have no
-- file_id and no outcomes: they are outside the check.

-- the ledger row's own number, which outcomes and quarantine rows name (a path can be in the ledger twice)
ALTER TABLE ingested_files ADD COLUMN file_id BIGINT;
-- the ledger file a quarantined record came from, and its 1-based record number within that file
ALTER TABLE quarantine ADD COLUMN file_id BIGINT;
ALTER TABLE quarantine ADD COLUMN record_no BIGINT;

-- grain: one row per run of consecutive records of one ledger file that share an outcome
CREATE TABLE record_outcome_ranges (
    file_id       BIGINT NOT NULL,    -- ingested_files.file_id
    first_record  BIGINT NOT NULL,    -- 1-based record number within the file
    last_record   BIGINT NOT NULL,    -- inclusive
    outcome       VARCHAR NOT NULL    -- loaded | duplicate | quarantined
);
COMMENT ON TABLE record_outcome_ranges IS 'What became of every record of every ingested file, as runs of consecutive record numbers (1-based) with one outcome: loaded, duplicate or quarantined. The view record_outcomes lists them one row per record.';

-- the exact rate a gift was converted at; amount_base and net_amount_base are to_base_currency(…, fx_rate)
ALTER TABLE donations ADD COLUMN fx_rate DECIMAL(18,8);
-- gifts loaded before: the rate their stored base amount implies
UPDATE donations SET fx_rate = CAST(amount_base / amount AS DECIMAL(18,8))
WHERE fx_rate IS NULL AND amount > 0 AND amount_base IS NOT NULL;

-- grain: one row per record of every ledger file with record-level accounting (files ingested since 009)
CREATE OR REPLACE VIEW record_outcomes AS
SELECT r.file_id, f.path AS source_file, f.sha256,
       unnest(range(r.first_record, r.last_record + 1)) AS record_no, r.outcome
FROM record_outcome_ranges r
JOIN ingested_files f USING (file_id);

-- grain: one row per ledger file and problem with its accounting (must return nothing). A ledger file's
-- records 1..rows_read must each have exactly one outcome, its counts must be those of its outcomes, and
-- its quarantined records must be exactly its quarantine rows. `ids`: the files to check (NULL: all).
CREATE OR REPLACE MACRO record_accounting_problems(ids) AS TABLE
WITH ledger AS (
    SELECT file_id, path, rows_read, rows_ingested, rows_duplicate, rows_quarantined
    FROM ingested_files
    WHERE file_id IS NOT NULL AND (ids IS NULL OR file_id IN (SELECT unnest(ids)))
),
ranges AS (
    SELECT r.*, lag(r.last_record, 1, 0) OVER (PARTITION BY r.file_id ORDER BY r.first_record, r.last_record)
                AS previous_last
    FROM record_outcome_ranges r
    WHERE ids IS NULL OR r.file_id IN (SELECT unnest(ids))
),
counted AS (
    SELECT file_id, max(last_record) AS last_record,
           coalesce(sum(last_record - first_record + 1) FILTER (WHERE outcome = 'loaded'), 0) AS loaded,
           coalesce(sum(last_record - first_record + 1) FILTER (WHERE outcome = 'duplicate'), 0) AS duplicate,
           coalesce(sum(last_record - first_record + 1) FILTER (WHERE outcome = 'quarantined'), 0) AS quarantined
    FROM ranges GROUP BY file_id
),
quarantine_rows AS (
    SELECT q.file_id, q.record_no,
           EXISTS (SELECT 1 FROM ranges r WHERE r.file_id = q.file_id AND r.outcome = 'quarantined'
                   AND q.record_no BETWEEN r.first_record AND r.last_record) AS in_quarantined_range
    FROM quarantine q
    WHERE q.file_id IS NOT NULL AND (ids IS NULL OR q.file_id IN (SELECT unnest(ids)))
),
quarantined AS (
    SELECT file_id, count(*) AS quarantine_rows, count(DISTINCT record_no) AS numbered_records,
           count(*) FILTER (WHERE record_no IS NULL) AS unnumbered,
           count(*) FILTER (WHERE NOT coalesce(in_quarantined_range, false)) AS outside
    FROM quarantine_rows GROUP BY file_id
),
problems AS (
    SELECT file_id, format('records {}..{} have no outcome', previous_last + 1, first_record - 1) AS problem
    FROM ranges WHERE first_record > previous_last + 1
    UNION ALL
    SELECT file_id, format('records {}..{} have more than one outcome', first_record,
                           least(last_record, previous_last))
    FROM ranges WHERE first_record <= previous_last AND first_record >= 1
    UNION ALL
    SELECT file_id, format('records {}..{} {} is no valid outcome range', first_record, last_record, outcome)
    FROM ranges WHERE first_record < 1 OR first_record > last_record OR outcome NOT IN ('loaded', 'duplicate', 'quarantined')
    UNION ALL
    SELECT l.file_id, CASE WHEN coalesce(c.last_record, 0) < l.rows_read
        THEN format('records {}..{} have no outcome', coalesce(c.last_record, 0) + 1, l.rows_read)
        ELSE format('records {}..{} have an outcome but the file was read as {} records',
                    l.rows_read + 1, c.last_record, l.rows_read) END
    FROM ledger l LEFT JOIN counted c USING (file_id)
    WHERE coalesce(c.last_record, 0) <> l.rows_read
    UNION ALL
    SELECT l.file_id, format('the ledger says loaded {}, duplicate {}, quarantined {}; its outcomes count {}, {}, {}',
                             l.rows_ingested, l.rows_duplicate, l.rows_quarantined,
                             coalesce(c.loaded, 0), coalesce(c.duplicate, 0), coalesce(c.quarantined, 0))
    FROM ledger l LEFT JOIN counted c USING (file_id)
    WHERE l.rows_ingested <> coalesce(c.loaded, 0) OR l.rows_duplicate <> coalesce(c.duplicate, 0)
       OR l.rows_quarantined <> coalesce(c.quarantined, 0)
    UNION ALL
    SELECT l.file_id, format('{} records quarantined but {} quarantine rows ({} without a record number, '
                             '{} for records not quarantined, {} records named twice)',
                             coalesce(c.quarantined, 0), coalesce(q.quarantine_rows, 0), coalesce(q.unnumbered, 0),
                             coalesce(q.outside, 0) - coalesce(q.unnumbered, 0),
                             coalesce(q.quarantine_rows, 0) - coalesce(q.unnumbered, 0) - coalesce(q.numbered_records, 0))
    FROM ledger l LEFT JOIN counted c USING (file_id) LEFT JOIN quarantined q USING (file_id)
    WHERE coalesce(c.quarantined, 0) <> coalesce(q.quarantine_rows, 0) OR coalesce(q.outside, 0) > 0
       OR coalesce(q.quarantine_rows, 0) <> coalesce(q.numbered_records, 0) + coalesce(q.unnumbered, 0)
    UNION ALL
    SELECT file_id, 'outcomes for a file the ledger does not have'
    FROM counted WHERE file_id NOT IN (SELECT file_id FROM ingested_files WHERE file_id IS NOT NULL)
)
SELECT p.file_id, f.path, p.problem
FROM problems p LEFT JOIN ingested_files f USING (file_id);

-- grain: one row per ledger file and accounting problem, over the whole warehouse (must return nothing)
CREATE OR REPLACE VIEW unaccounted_records AS
SELECT * FROM record_accounting_problems(NULL);

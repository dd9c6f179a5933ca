-- grain: one row per ledger file whose records 1..rows_read do not each have exactly one outcome, whose counts
-- are not those of its outcomes, or whose quarantine rows are not its quarantined records (must return nothing)
select file_id, path, problem from unaccounted_records

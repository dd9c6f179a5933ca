-- grain: one row per rejected record still waiting for someone: quarantine rows not resolved by a later file
CREATE OR REPLACE VIEW open_quarantine AS
with final as (
    select source_file, line_or_key, reason, raw, channel, quarantined_at
    from quarantine
    where resolved_at is null
)

select * from final;

COMMENT ON VIEW open_quarantine IS 'The quarantine rows still open (resolved_at IS NULL): a row cut short that a later, complete export loaded is resolved and left out.';

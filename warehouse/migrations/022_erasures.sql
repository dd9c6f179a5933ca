-- GDPR art. 17: a person (or one of their addresses) that must never be contacted again. The erasure
-- work fills it (`legatura erase`); compose suppresses every message to a listed contact or address
-- with reason 'erased', whatever the campaign's purpose.

-- grain: one row per erasure request (a contact, an address, or both)
CREATE TABLE erasures (
    contact_id     BIGINT,               -- the contact erased (may no longer exist after erasure)
    identity_value VARCHAR,              -- a normalised email or E.164 phone never to be contacted
    requested_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    erased_at      TIMESTAMPTZ,
    source         VARCHAR               -- who asked and how, e.g. 'email request 2026-11-30'
);
COMMENT ON TABLE erasures IS 'GDPR erasure requests: contacts and addresses that must never be contacted again; compose suppresses them with reason erased.';

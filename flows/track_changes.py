"""What changed since tracking last ran (the watermark), and response times recomputed for those contacts alone.

The watermark (`tracking_watermarks`) records what the last tracking run covered: how many interactions
and merges there were and the latest `ingested_at` / `merged_at` among them, a fingerprint of every
message and gift (matching reads them, and compose, send, refunds and merges change them in place), and
the settings and matching SQL the results follow. Interactions are append-only facts: a merge is the one
change made to them in place, and it is recorded in `contact_merges`. Anything the watermark cannot
explain (fewer rows than it covered, other settings, other SQL) is recomputed in full.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import duckdb
from legatura.flows.config import Settings
from legatura.warehouse.db import SQL_ROOT, fetch_one

TRACKING_SQL = SQL_ROOT / "tracking"
MATCHING_SQL = SQL_ROOT / "views" / "030_response_times.sql"
SHADOWED = ("tracking_messages", "tracking_interactions", "tracking_donations")
# the temp tables (filled by scoped_inputs.sql) naming the results a scoped run recomputes, by key
SCOPED_KEYS = {"message_id": "tracking_message_keys", "interaction_id": "tracking_request_keys"}
SCRATCH = ("tracking_since", "tracking_scope", "tracking_changed_messages", "tracking_changed_donations",
           "scoped_own_messages", "scoped_interactions", "scoped_messages", "scoped_donations",
           "tracking_message_keys", "tracking_request_keys")


def _sql(name: str) -> str:
    return (TRACKING_SQL / f"{name}.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Marks:
    """What tracking follows, as the warehouse holds it now or as the last tracking run saw it."""

    interactions: int
    interactions_until: datetime | None
    merges: int
    merges_until: datetime | None
    messages: int
    messages_fingerprint: int | None
    donations: int
    donations_fingerprint: int | None
    parameters: str


@dataclass(frozen=True)
class Changes:
    """The current marks against the recorded ones: what a tracking run has to recompute."""

    full_reason: str | None      # why only a full recompute is exact; None when the changes say who changed
    new_interactions: int = 0
    new_merges: int = 0
    messages_changed: bool = False
    donations_changed: bool = False

    @property
    def any(self) -> bool:
        return bool(self.full_reason or self.new_interactions or self.new_merges
                    or self.messages_changed or self.donations_changed)


def tracking_parameters(settings: Settings) -> str:
    """The settings and matching SQL the results follow: when either changes, every result may."""
    matching = hashlib.sha256(MATCHING_SQL.read_bytes()).hexdigest()[:16]
    for path in sorted(TRACKING_SQL.glob("*.sql")):
        matching += hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    return json.dumps({"tracking": settings.tracking.model_dump(mode="json"),
                       "timezone": settings.organisation.timezone, "sql": matching}, sort_keys=True)


def current_marks(con: duckdb.DuckDBPyConnection, parameters: str) -> Marks:
    """The marks of the warehouse as it is now (a scan of two fingerprints; the rest is cheap)."""
    row = fetch_one(con, """
        SELECT (SELECT count(*) FROM interactions), (SELECT max(ingested_at) FROM interactions),
               (SELECT count(*) FROM contact_merges), (SELECT max(merged_at) FROM contact_merges),
               m.n, m.fingerprint, d.n, d.fingerprint
        FROM (SELECT count(*) AS n, bit_xor(fingerprint) AS fingerprint FROM tracking_message_fingerprints) m,
             (SELECT count(*) AS n, bit_xor(fingerprint) AS fingerprint FROM tracking_donation_fingerprints) d""")
    return Marks(*row, parameters=parameters)


def recorded_marks(con: duckdb.DuckDBPyConnection) -> Marks | None:
    """The marks the last tracking run wrote, or None when tracking never ran on this warehouse."""
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT source, row_count, covered_until, fingerprint, parameters FROM tracking_watermarks").fetchall()}
    if set(rows) != {"interactions", "contact_merges", "messages", "donations", "parameters"}:
        return None
    return Marks(
        interactions=rows["interactions"][0], interactions_until=rows["interactions"][1],
        merges=rows["contact_merges"][0], merges_until=rows["contact_merges"][1],
        messages=rows["messages"][0], messages_fingerprint=rows["messages"][2],
        donations=rows["donations"][0], donations_fingerprint=rows["donations"][2],
        parameters=rows["parameters"][3])


def write_marks(con: duckdb.DuckDBPyConnection, marks: Marks) -> None:
    con.executemany(
        "INSERT OR REPLACE INTO tracking_watermarks (source, row_count, covered_until, fingerprint, parameters) "
        "VALUES (?, ?, ?, ?, ?)",
        [("interactions", marks.interactions, marks.interactions_until, None, None),
         ("contact_merges", marks.merges, marks.merges_until, None, None),
         ("messages", marks.messages, None, marks.messages_fingerprint, None),
         ("donations", marks.donations, None, marks.donations_fingerprint, None),
         ("parameters", None, None, None, marks.parameters)])


def compare(con: duckdb.DuckDBPyConnection, recorded: Marks | None, now: Marks) -> Changes:
    """What changed between the recorded marks and now, or why only a full recompute will do."""
    if recorded is None:
        return Changes("tracking has not run on this warehouse yet")
    if recorded.parameters != now.parameters:
        return Changes("the tracking settings or the matching SQL changed")
    new_interactions, new_merges = fetch_one(con, """
        SELECT (SELECT count(*) FROM interactions WHERE ingested_at > coalesce(?::TIMESTAMPTZ, '-infinity')),
               (SELECT count(*) FROM contact_merges WHERE merged_at > coalesce(?::TIMESTAMPTZ, '-infinity'))""",
        [recorded.interactions_until, recorded.merges_until])
    # rows at or before the watermark that are no longer all there: removed (erasure) or re-dated
    if now.interactions - new_interactions != recorded.interactions:
        return Changes("interactions tracking covered were removed or re-dated")
    if now.merges - new_merges != recorded.merges:
        return Changes("merges tracking covered were removed or re-dated")
    return Changes(
        None, new_interactions, new_merges,
        messages_changed=(now.messages, now.messages_fingerprint) != (recorded.messages, recorded.messages_fingerprint),
        donations_changed=(now.donations, now.donations_fingerprint)
        != (recorded.donations, recorded.donations_fingerprint))


def find_changed_rows(con: duckdb.DuckDBPyConnection, messages: bool = True, donations: bool = True) -> None:
    """Temp tables of the messages and gifts whose fingerprint differs from the last run's (empty when unchanged)."""
    for name, changed in (("messages", messages), ("donations", donations)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE tracking_changed_{name} AS "
                    f"{_sql('changed_' + name)}{'' if changed else ' LIMIT 0'}")


def remember_changed_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Bring tracked_messages and tracked_donations to the fingerprints just tracked."""
    for table, key, columns in (("messages", "message_id", "message_id, contact_id, smtp_message_id, fingerprint"),
                                ("donations", "donation_id", "donation_id, contact_id, fingerprint")):
        con.execute(f"DELETE FROM tracked_{table} WHERE {key} IN (SELECT {key} FROM tracking_changed_{table})")
        con.execute(f"INSERT INTO tracked_{table} ({columns}) SELECT {columns} FROM tracking_changed_{table} "
                    "WHERE NOT removed")


def scope_contacts(con: duckdb.DuckDBPyConnection) -> int:
    """tracking_scope: the contacts the changes can move (needs the tracking_changed_* tables); how many."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE tracking_since AS {_sql('since')}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE tracking_scope AS {_sql('touched_contacts')}")
    return fetch_one(con, "SELECT count(*) FROM tracking_scope")[0]


def compute_scoped(con: duckdb.DuckDBPyConnection, materialised: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """fresh_<table> for each materialised table: its matches view over the scope's rows alone, by key."""
    drop_shadows(con)
    try:
        con.execute(_sql("scoped_inputs"))
        for table, (view, columns) in materialised.items():
            con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_{table} AS SELECT {', '.join(columns)} FROM {view} "
                        f"SEMI JOIN {SCOPED_KEYS[columns[0]]} USING ({columns[0]})")
    finally:
        drop_shadows(con)


def drop_shadows(con: duckdb.DuckDBPyConnection) -> None:
    """The tracking_* input views read the whole warehouse again."""
    for name in SHADOWED:
        con.execute(f"DROP VIEW IF EXISTS temp.{name}")


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the shadows and every temp table of a tracking run."""
    drop_shadows(con)
    for name in SCRATCH:
        con.execute(f"DROP TABLE IF EXISTS temp.{name}")

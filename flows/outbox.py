"""The warehouse side of delivery: claim due messages, write outcomes in batches, recover after a crash.

Every statement is set-based SQL from warehouse/delivery/*.sql; the senders never write row by row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
from legatura.flows.journal import JournalEntry
from legatura.transforms.delivery import OUTCOME_STATUS, UNKNOWN_AFTER_CRASH, UNKNOWN_PREFIX, outcome
from legatura.warehouse.db import SQL_ROOT

OUTCOME_SCHEMA = pa.schema([
    ("message_id", pa.string()), ("attempt", pa.int32()), ("channel", pa.string()), ("address", pa.string()),
    ("outcome", pa.string()), ("reply_code", pa.int32()), ("reply_text", pa.string()), ("error", pa.string()),
    ("finished_at", pa.timestamp("us", tz="UTC")), ("next_attempt_at", pa.timestamp("us", tz="UTC")),
    ("gateway_sid", pa.string()), ("sms_segments", pa.int32()), ("sms_price", pa.string()), ("batch", pa.string()),
])


def delivery_sql(name: str) -> str:
    return (SQL_ROOT / "delivery" / f"{name}.sql").read_text(encoding="utf-8")


def suppress_queued(con: duckdb.DuckDBPyConnection) -> int:
    """Queued email/SMS that an opt-out, bounce or erasure now forbids become `suppressed`; returns how many."""
    before = con.execute("SELECT count(*) FROM messages WHERE status = 'suppressed'").fetchall()[0][0]
    con.execute(delivery_sql("suppress_queued"))
    return con.execute("SELECT count(*) FROM messages WHERE status = 'suppressed'").fetchall()[0][0] - before


def count_due(con: duckdb.DuckDBPyConnection, channel: str, now: datetime, campaign: str | None) -> int:
    return con.execute(
        "SELECT count(*) FROM messages WHERE status = 'queued' AND channel = $channel "
        "AND coalesce(send_after, $now) <= $now AND coalesce(next_attempt_at, $now) <= $now "
        "AND ($campaign IS NULL OR campaign = $campaign)",
        {"channel": channel, "now": now, "campaign": campaign}).fetchall()[0][0]


def claim(con: duckdb.DuckDBPyConnection, channel: str, limit: int, campaign: str | None, domain: str,
          now: datetime | None = None) -> list[dict]:
    """Move up to `limit` due messages of a channel to `sending` (committed), with their contacts' names."""
    if limit <= 0:
        return []
    now = now or datetime.now(timezone.utc)
    result = con.execute(delivery_sql("claim"), {"channel": channel, "limit": limit, "campaign": campaign,
                                                 "domain": domain, "now": now})
    columns = [d[0] for d in result.description]
    rows = [dict(zip(columns, values)) for values in result.fetchall()]
    contact_ids = sorted({r["contact_id"] for r in rows if r["contact_id"] is not None})
    names = dict(con.execute("SELECT contact_id, full_name FROM contacts WHERE list_contains($ids, contact_id)",
                             {"ids": contact_ids}).fetchall()) if contact_ids else {}
    for row in rows:
        row["full_name"] = names.get(row["contact_id"])
    return rows


def apply_outcomes(con: duckdb.DuckDBPyConnection, outcomes: list[dict]) -> None:
    """Write a batch of outcomes in one transaction (idempotent: only rows still `sending` at that attempt)."""
    if not outcomes:
        return
    frame = pa.Table.from_pylist(outcomes, schema=OUTCOME_SCHEMA)
    con.register("outcomes", frame)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(delivery_sql("apply_outcomes"))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("outcomes")


@dataclass
class Recovery:
    """What a run found left `sending` by a run that died, and what became of it."""

    from_journal: int = 0        # outcomes the journal had and the warehouse had not yet
    requeued: int = 0            # never handed to the server: queued again
    unknown: list[str] = field(default_factory=list)   # handed, no answer known: failed `unknown:`


def recover(con: duckdb.DuckDBPyConnection, journal: dict[tuple[str, int], JournalEntry]) -> Recovery:
    """Decide every message left `sending`: its journaled outcome, unknown (handed), or queued again."""
    found = Recovery()
    rows = con.execute("SELECT message_id, attempts, channel, address FROM messages WHERE status = 'sending'"
                       ).fetchall()
    now = datetime.now(timezone.utc)
    outcomes = []
    for message_id, attempt, channel, address in rows:
        entry = journal.get((message_id, attempt))
        if entry is not None and entry.outcome is not None:
            kept = {k: v for k, v in entry.outcome.items() if k not in ("m", "a", "e")}
            for key in ("finished_at", "next_attempt_at"):
                if kept.get(key):
                    kept[key] = datetime.fromisoformat(kept[key])
            outcomes.append(outcome(message_id, attempt, channel, address, entry.outcome["e"],
                                    kept.pop("finished_at", None) or now, **kept))
            found.from_journal += 1
        elif entry is not None and entry.handed:
            outcomes.append(outcome(message_id, attempt, channel, address, "unknown", now,
                                    error=UNKNOWN_AFTER_CRASH))
            found.unknown.append(message_id)
        else:
            outcomes.append(outcome(message_id, attempt, channel, address, "requeued", now))
            found.requeued += 1
    apply_outcomes(con, outcomes)
    return found


def journal_line(row: dict) -> dict:
    """An outcome as a journal line (times as ISO text)."""
    line = {"m": row["message_id"], "a": row["attempt"], "e": row["outcome"]}
    for key, value in row.items():
        if key in ("message_id", "attempt", "outcome", "channel", "address") or value is None:
            continue
        line[key] = value.isoformat() if isinstance(value, datetime) else value
    return line


def resend_unknown(con: duckdb.DuckDBPyConnection, campaign: str | None) -> int:
    """Queue again the messages whose fate is unknown (the operator checked and wants them sent)."""
    where = ("status = 'failed' AND starts_with(error, $prefix) AND ($campaign IS NULL OR campaign = $campaign)")
    params = {"prefix": UNKNOWN_PREFIX, "campaign": campaign}
    count = con.execute(f"SELECT count(*) FROM messages WHERE {where}", params).fetchall()[0][0]
    con.execute(f"UPDATE messages SET status = 'queued', next_attempt_at = NULL, "
                f"error = 'resent after ' || error WHERE {where}", params)
    return count


def status_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Messages per status, with queued split into due now and waiting (send_after, retry backoff)."""
    rows = con.execute(
        "SELECT CASE WHEN status = 'queued' AND coalesce(greatest(send_after, next_attempt_at), now()) > now() "
        "THEN 'queued (later)' WHEN status = 'failed' AND starts_with(error, 'unknown:') THEN 'failed (unknown)' "
        "ELSE status END, count(*) FROM messages GROUP BY 1 ORDER BY 1").fetchall()
    return dict(rows)


def unknown_messages(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT message_id, channel, campaign, address, smtp_message_id, error FROM messages "
        "WHERE status = 'failed' AND starts_with(error, $prefix) ORDER BY message_id",
        {"prefix": UNKNOWN_PREFIX}).fetchall()


STATUSES = tuple(sorted(set(OUTCOME_STATUS.values())))

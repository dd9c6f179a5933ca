"""`legatura track`: match responses to our messages and answers to their requests, in SQL."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import timedelta

import duckdb
from legatura.flows import session
from legatura.flows import track_changes as changes
from legatura.flows.config import ConfigError, Settings, load_settings
from legatura.transforms.tracking import (
    CalendarError,
    WorkingHours,
    calendar_span_days,
    describe_seconds,
    working_calendar,
)
from legatura.warehouse.db import fetch_one, put_settings
from prefect import flow, task
from prefect.cache_policies import NO_CACHE


@dataclass(frozen=True)
class TrackSummary:
    """What a tracking run did and, when asked for, the headline: how fast we answer, how fast they respond."""

    mode: str                            # 'full' | 'incremental' | 'current' (nothing had changed)
    contacts_recomputed: int | None      # incremental: the contacts the changes touched
    rows_changed: int                    # result rows removed or added by this run (0: nothing new)
    seconds: float
    sla_hours: float
    full_reason: str | None = None       # why the run recomputed everything
    messages_sent: int | None = None
    messages_responded: int | None = None
    median_response_seconds: float | None = None
    requests: int | None = None
    answered: int | None = None
    answered_within_sla: int | None = None
    share_within_sla: float | None = None   # of requests whose SLA outcome is decided
    median_first_response_seconds: float | None = None
    open_requests: int | None = None
    open_requests_breached: int | None = None

    def run_line(self) -> str:
        if self.mode == "current":
            return f"tracking was up to date ({self.seconds:.2f} s)"
        scope = (f"all contacts ({self.full_reason})" if self.mode == "full"
                 else f"{self.contacts_recomputed} contact(s) whose rows changed")
        return f"recomputed {scope}: {self.rows_changed} result row(s) changed ({self.seconds:.2f} s)"

    def lines(self) -> list[str]:
        if self.requests is None:
            return [self.run_line()]
        share = "-" if self.share_within_sla is None else f"{self.share_within_sla:.0%}"
        return [
            f"answered within SLA ({self.sla_hours:g} h): {share} "
            f"({self.answered_within_sla} of {self.requests} requests)",
            f"median first response: {describe_seconds(self.median_first_response_seconds)}",
            f"open requests: {self.open_requests} ({self.open_requests_breached} past the SLA)",
            f"our messages answered: {self.messages_responded} of {self.messages_sent}, "
            f"median {describe_seconds(self.median_response_seconds)}",
            self.run_line(),
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _write_tracking_settings(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    values = {
        "sla_hours": f"{settings.tracking.sla_hours:g}",
        "attribution_days": f"{settings.tracking.attribution_days:g}",
        "business_hours": "true" if settings.tracking.business_hours else "false",
        "timezone": settings.organisation.timezone,
        "reply_clock_skew_seconds": str(int(settings.tracking.reply_clock_skew_hours * 3600)),
    }
    put_settings(con, values)


def _write_working_days(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Lay the business-hours calendar over every request's possible deadline (or clear it)."""
    con.execute("DELETE FROM working_days")
    if not settings.tracking.business_hours:
        return
    first, last = con.execute(
        "SELECT min(timezone(?, occurred_at))::date, max(timezone(?, occurred_at))::date "
        "FROM interactions WHERE direction = 'inbound' AND awaits_answer",
        [settings.organisation.timezone] * 2,
    ).fetchall()[0]
    if first is None:
        return
    hours = WorkingHours(starts=settings.tracking.workday_start, ends=settings.tracking.workday_end)
    try:
        calendar = working_calendar(
            first - timedelta(days=7),
            last + timedelta(days=calendar_span_days(settings.tracking.sla_hours, hours)),
            settings.organisation.timezone,
            settings.tracking.holidays_country,
            hours,
        )
    except CalendarError as exc:
        raise ConfigError(str(exc)) from exc
    con.register("working_calendar_frame", calendar)
    try:
        con.execute("INSERT INTO working_days SELECT * FROM working_calendar_frame")
    finally:
        con.unregister("working_calendar_frame")


# what `legatura track` materialises: table <- view, over these columns, keyed by the first
_MATERIALISED = {
    "message_responses": ("message_response_matches",
                          ("message_id", "response_interaction_id", "responded_at", "response_kind")),
    "request_answers": ("request_answer_matches",
                        ("interaction_id", "answer_interaction_id", "answered_at", "answer_channel",
                         "answer_source")),
    "request_deadlines": ("request_deadline_matches", ("interaction_id", "due_at")),
}


def _refresh(con: duckdb.DuckDBPyConnection, table: str, keys: str | None = None) -> int:
    """Make `table` equal to fresh_<table> (over the keys named in `keys`, or whole), touching only rows
    that differ; rows removed + added."""
    if keys is not None:
        return _refresh_keys(con, table, keys)
    _, columns = _MATERIALISED[table]
    key, cols = columns[0], ", ".join(columns)
    # rewriting every row of a keyed table costs far more than comparing: change only what differs
    removed = con.execute(
        f"DELETE FROM {table} WHERE {key} IN ("
        f" SELECT {key} FROM (SELECT {cols} FROM {table} EXCEPT SELECT {cols} FROM fresh_{table}))"
    ).fetchall()[0][0]
    added = con.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM fresh_{table} f"
        f" ANTI JOIN {table} t USING ({key})"
    ).fetchall()[0][0]
    con.execute(f"DROP TABLE fresh_{table}")
    return removed + added


def _refresh_keys(con: duckdb.DuckDBPyConnection, table: str, keys: str) -> int:
    """_refresh over the keys in `keys` (fresh_<table> holds only those): the stored rows of those keys read
    once, with their rowids, so that neither the DELETE nor the INSERT scans the table's keys again. Rows
    removed: every row of a key whose stored rows differ from the fresh ones; added: each fresh row whose
    key has no stored row left."""
    _, columns = _MATERIALISED[table]
    key, cols = columns[0], ", ".join(columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE stored_{table} AS "
                f"SELECT rowid AS stored_row, {cols} FROM {table} SEMI JOIN {keys} USING ({key})")
    con.execute(f"CREATE OR REPLACE TEMP TABLE changed_{table} AS SELECT DISTINCT {key} FROM "
                f"(SELECT {cols} FROM stored_{table} EXCEPT SELECT {cols} FROM fresh_{table})")
    removed = con.execute(
        f"DELETE FROM {table} WHERE rowid IN "
        f"(SELECT stored_row FROM stored_{table} SEMI JOIN changed_{table} USING ({key}))").fetchall()[0][0]
    added = con.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM fresh_{table} f ANTI JOIN "
        f"(SELECT {key} FROM stored_{table} ANTI JOIN changed_{table} USING ({key})) USING ({key})"
    ).fetchall()[0][0]
    for name in (f"fresh_{table}", f"stored_{table}", f"changed_{table}"):
        con.execute(f"DROP TABLE {name}")
    return removed + added


def _tables(settings: Settings) -> dict[str, tuple[str, tuple[str, ...]]]:
    names = ["message_responses", "request_answers"] + (["request_deadlines"] if settings.tracking.business_hours
                                                        else [])
    return {name: _MATERIALISED[name] for name in names}


def _track_everything(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Every result from the whole warehouse; the fingerprints of every message and gift remembered."""
    _write_tracking_settings(con, settings)
    _write_working_days(con, settings)
    changed = 0
    for table, (view, columns) in _tables(settings).items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_{table} AS SELECT {', '.join(columns)} FROM {view}")
        changed += _refresh(con, table)
    if not settings.tracking.business_hours:
        changed += con.execute("DELETE FROM request_deadlines").fetchall()[0][0]
    changes.find_changed_rows(con)
    changes.remember_changed_rows(con)
    return changed


def _track_changes(con: duckdb.DuckDBPyConnection, settings: Settings, seen: changes.Changes) -> tuple[int, int]:
    """The results of the contacts the changes touched, from their rows alone; (contacts, rows changed)."""
    changes.find_changed_rows(con, seen.messages_changed, seen.donations_changed)
    contacts = changes.scope_contacts(con)
    removed = fetch_one(con, "SELECT count(*) FROM tracking_changed_messages WHERE removed")[0]
    changed = 0
    if contacts or removed:
        if settings.tracking.business_hours:
            _write_working_days(con, settings)   # new requests may need more calendar
        tables = _tables(settings)
        changes.compute_scoped(con, tables)
        for table, (_, columns) in tables.items():
            changed += _refresh(con, table, changes.SCOPED_KEYS[columns[0]])
    changes.remember_changed_rows(con)
    return contacts, changed


def _track(con: duckdb.DuckDBPyConnection, settings: Settings, full: bool, headline: bool) -> TrackSummary | None:
    """Bring the results up to date in one transaction: everything when `full` or when the watermark cannot
    tell what changed, else only the contacts whose rows changed. None: nothing had changed, no headline asked."""
    started = time.perf_counter()
    mode, contacts, changed, reason = "current", None, 0, None
    con.execute("BEGIN TRANSACTION")
    try:
        now = changes.current_marks(con, changes.tracking_parameters(settings))
        seen = (changes.Changes("asked for") if full
                else changes.compare(con, changes.recorded_marks(con), now))
        if seen.full_reason:
            mode, reason = "full", seen.full_reason
            changed = _track_everything(con, settings)
        elif seen.any:
            mode = "incremental"
            contacts, changed = _track_changes(con, settings, seen)
        if mode != "current":
            changes.write_marks(con, now)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        changes.drop_scratch(con)
        for table in _MATERIALISED:
            for scratch in ("fresh", "stored", "changed"):
                con.execute(f"DROP TABLE IF EXISTS temp.{scratch}_{table}")
    if mode == "current" and not headline:
        return None
    summary = TrackSummary(mode=mode, contacts_recomputed=contacts, rows_changed=changed, full_reason=reason,
                           seconds=0.0, sla_hours=settings.tracking.sla_hours)
    if headline:
        summary = _with_headline(con, summary)
    return dataclasses.replace(summary, seconds=round(time.perf_counter() - started, 3))


def _with_headline(con: duckdb.DuckDBPyConnection, summary: TrackSummary) -> TrackSummary:
    row = con.execute(
        "SELECT messages_sent, messages_responded, median_response_seconds, requests, answered, "
        "answered_within_sla, share_within_sla, median_first_response_seconds, open_requests, "
        "open_requests_breached FROM response_headline"
    ).fetchall()[0]
    return dataclasses.replace(
        summary, messages_sent=row[0], messages_responded=row[1], median_response_seconds=row[2],
        requests=row[3], answered=row[4], answered_within_sla=row[5],
        share_within_sla=None if row[6] is None else float(row[6]),
        median_first_response_seconds=row[7], open_requests=row[8], open_requests_breached=row[9])


def compute_response_times(con: duckdb.DuckDBPyConnection, settings: Settings, headline: bool = True) -> TrackSummary:
    """Recompute every response-time result from the whole warehouse (idempotent), with the headline."""
    return _track(con, settings, full=True, headline=headline)


def update_response_times(con: duckdb.DuckDBPyConnection, settings: Settings) -> TrackSummary:
    """Bring response times up to date with what changed since tracking last ran, with the headline."""
    return _track(con, settings, full=False, headline=True)


def bring_tracking_up_to_date(con: duckdb.DuckDBPyConnection, settings: Settings) -> TrackSummary | None:
    """What every writing command calls: recompute what changed since tracking last ran (whatever wrote it,
    and even if this run loaded nothing); None when tracking already covers the warehouse. No headline:
    its medians cost a pass over every result."""
    return _track(con, settings, full=False, headline=False)


def track_warehouse(config: str | None = None, headline: bool = True) -> TrackSummary | None:
    """Response times of the warehouse `config` names brought up to date (with the headline, or None when
    nothing changed and no headline was asked), in the connection the flow holds or its own (which
    publishes the analysts' snapshot). A task's parameters are plain values."""
    settings = load_settings(config)
    with session.connection(settings, "legatura track") as con:
        return update_response_times(con, settings) if headline else bring_tracking_up_to_date(con, settings)


track_task = task(track_warehouse, name="track-response-times", cache_policy=NO_CACHE)


@flow(name="track")
def track_flow(config: str | None = None) -> TrackSummary:
    """Bring response times in both directions up to date and publish the analysts' snapshot."""
    return track_task(config)

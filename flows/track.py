"""`legatura track`: match responses to our messages and answers to their requests, in SQL."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import duckdb
from legatura.flows import session
from legatura.flows.config import ConfigError, Settings, load_settings
from legatura.transforms.tracking import (
    CalendarError,
    WorkingHours,
    calendar_span_days,
    describe_seconds,
    working_calendar,
)
from legatura.warehouse.db import put_settings
from prefect import flow, task
from prefect.cache_policies import NO_CACHE


@dataclass(frozen=True)
class TrackSummary:
    """The headline of a tracking run: how fast we answer, how fast they respond, what is open."""

    messages_sent: int
    messages_responded: int
    median_response_seconds: float | None
    requests: int
    answered: int
    answered_within_sla: int
    share_within_sla: float | None       # of requests whose SLA outcome is decided
    median_first_response_seconds: float | None
    open_requests: int
    open_requests_breached: int
    sla_hours: float
    rows_changed: int                    # result rows removed or added by this run (0: nothing new)
    seconds: float

    def lines(self) -> list[str]:
        share = "-" if self.share_within_sla is None else f"{self.share_within_sla:.0%}"
        return [
            f"answered within SLA ({self.sla_hours:g} h): {share} "
            f"({self.answered_within_sla} of {self.requests} requests)",
            f"median first response: {describe_seconds(self.median_first_response_seconds)}",
            f"open requests: {self.open_requests} ({self.open_requests_breached} past the SLA)",
            f"our messages answered: {self.messages_responded} of {self.messages_sent}, "
            f"median {describe_seconds(self.median_response_seconds)}",
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


def _refresh(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Make `table` equal to its matches view, touching only rows that changed; rows removed + added."""
    view, columns = _MATERIALISED[table]
    key, cols = columns[0], ", ".join(columns)
    # rewriting every row of a keyed table costs far more than comparing: change only what differs
    con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_{table} AS SELECT {cols} FROM {view}")
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


def compute_response_times(con: duckdb.DuckDBPyConnection, settings: Settings) -> TrackSummary:
    """Bring message_responses and request_answers up to date with the whole warehouse (idempotent)."""
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    try:
        _write_tracking_settings(con, settings)
        _write_working_days(con, settings)
        changed = _refresh(con, "message_responses") + _refresh(con, "request_answers")
        if settings.tracking.business_hours:
            changed += _refresh(con, "request_deadlines")
        else:
            changed += con.execute("DELETE FROM request_deadlines").fetchall()[0][0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    row = con.execute(
        "SELECT messages_sent, messages_responded, median_response_seconds, requests, answered, "
        "answered_within_sla, share_within_sla, median_first_response_seconds, open_requests, "
        "open_requests_breached FROM response_headline"
    ).fetchall()[0]
    return TrackSummary(
        messages_sent=row[0], messages_responded=row[1], median_response_seconds=row[2],
        requests=row[3], answered=row[4], answered_within_sla=row[5],
        share_within_sla=None if row[6] is None else float(row[6]),
        median_first_response_seconds=row[7], open_requests=row[8], open_requests_breached=row[9],
        sla_hours=settings.tracking.sla_hours, rows_changed=changed, seconds=round(time.perf_counter() - started, 3),
    )


def track_warehouse(config: str | None = None) -> TrackSummary:
    """Response times of the warehouse `config` names: in the connection the flow holds, or its own (which
    publishes the analysts' snapshot). A task's parameters are plain values."""
    settings = load_settings(config)
    with session.connection(settings, "legatura track") as con:
        return compute_response_times(con, settings)


track_task = task(track_warehouse, name="compute-response-times", cache_policy=NO_CACHE)


@flow(name="track")
def track_flow(config: str | None = None) -> TrackSummary:
    """Recompute response times in both directions and publish the analysts' snapshot."""
    return track_task(config)

"""The warehouse side of compose: parameters, audience, decisions and context in SQL; the outbox write."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pyarrow as pa
from legatura.flows.config import Settings
from legatura.transforms.campaigns import Campaign, CampaignError, audience_query
from legatura.transforms.errors import LegaturaError
from legatura.warehouse.db import SQL_ROOT, query_frame, sql_identifier, sql_literal

COMPOSE_SQL = SQL_ROOT / "compose"
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

class ComposeConfigError(LegaturaError):
    """[compose] send_time or send_window holds a value compose cannot use."""


def run_sql_file(con: duckdb.DuckDBPyConnection, path) -> None:
    """Run a .sql file of several statements, each ending with `;` at a line end."""
    text = path.read_text(encoding="utf-8")
    for statement in re.split(r";\s*\n", text):
        if re.sub(r"--[^\n]*", "", statement).strip():
            con.execute(statement)


def _hhmm(value: str, key: str) -> time:
    match = TIME_RE.match(value.strip())
    if not match:
        raise ComposeConfigError(f"[compose] {key} = {value!r}: expected HH:MM (24-hour, local time)")
    return time(int(match.group(1)), int(match.group(2)))


def send_times(settings: Settings, run_at: datetime) -> dict:
    """send_time's mode, the fixed instant, and the window's next opening (working days), from `run_at`."""
    tz = ZoneInfo(settings.organisation.timezone)
    local = run_at.astimezone(tz)
    mode = settings.compose.send_time.strip().lower()
    fixed = None
    if mode not in ("best", "now"):
        at = _hhmm(mode, "send_time")
        candidate = datetime.combine(local.date(), at, tz)
        fixed = candidate if candidate >= local else datetime.combine(local.date() + timedelta(days=1), at, tz)
        mode = "fixed"
    start_text, _, end_text = settings.compose.send_window.partition("-")
    start, end = _hhmm(start_text, "send_window"), _hhmm(end_text or "", "send_window")
    if end <= start:
        raise ComposeConfigError(f"[compose] send_window = {settings.compose.send_window!r}: the end must be "
                                 "after the start, e.g. \"09:00-18:00\"")
    day = local.date()
    if day.isoweekday() <= 5 and start <= local.time() < end:
        window = run_at
    else:
        if day.isoweekday() > 5 or local.time() >= end:
            day += timedelta(days=1)
            while day.isoweekday() > 5:
                day += timedelta(days=1)
        window = datetime.combine(day, start, tz)
    return {"send_time": mode, "fixed_send_at": fixed, "window_send_at": window,
            "local_run": local.replace(tzinfo=None)}


def year_start(as_of: date, start_month: int) -> date:
    year = as_of.year if as_of.month >= start_month else as_of.year - 1
    return date(year, start_month, 1)


def put_params(con: duckdb.DuckDBPyConnection, settings: Settings, campaign: Campaign, as_of: date,
               now: datetime | None = None) -> datetime:
    """The one-row compose_params table the compose SQL reads; returns the run's instant."""
    tz = ZoneInfo(settings.organisation.timezone)
    local_midnight = lambda d: datetime.combine(d, time(0), tz)  # noqa: E731
    run_at = max(now or datetime.now(tz), local_midnight(as_of))
    times = send_times(settings, run_at)
    this_year = year_start(as_of, settings.segments.fiscal_year_start_month)
    last_year = date(this_year.year - 1, this_year.month, 1)
    as_of_ends = local_midnight(as_of + timedelta(days=1))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE compose_params AS SELECT
            ?::VARCHAR AS campaign, ?::DATE AS as_of, ?::VARCHAR AS timezone, ?::TIMESTAMPTZ AS as_of_ends_at,
            ?::TIMESTAMPTZ AS lookback_starts_at, ?::TIMESTAMPTZ AS run_at, ?::TIMESTAMP AS local_run,
            ?::BOOLEAN AS is_marketing, ?::VARCHAR[] AS channels, ?::VARCHAR[] AS languages,
            ?::VARCHAR AS default_language, ?::INTEGER AS frequency_cap, ?::INTEGER AS frequency_window_days,
            ?::TIMESTAMPTZ AS window_starts_at, ?::VARCHAR AS send_time, ?::TIMESTAMPTZ AS fixed_send_at,
            ?::TIMESTAMPTZ AS window_send_at, to_seconds(?::BIGINT) AS delay, 3 AS min_events,
            ?::TIMESTAMPTZ AS this_year_starts_at, ?::TIMESTAMPTZ AS last_year_starts_at,
            ?::VARCHAR AS base_currency, ?::BOOLEAN AS statement""", [
        campaign.name, as_of, settings.organisation.timezone, as_of_ends,
        local_midnight(as_of - timedelta(days=campaign.lookback_days - 1)), run_at, times["local_run"],
        campaign.is_marketing, list(campaign.channels), list(campaign.languages), settings.organisation.language,
        settings.compose.frequency_cap, settings.compose.frequency_window_days,
        as_of_ends - timedelta(days=settings.compose.frequency_window_days), times["send_time"],
        times["fixed_send_at"], times["window_send_at"], int(campaign.delay_after.total_seconds()),
        local_midnight(this_year), local_midnight(last_year), settings.money.base_currency, campaign.statement])
    return run_at


def select_audience(con: duckdb.DuckDBPyConnection, campaign: Campaign, as_of: date) -> int:
    """compose_audience: who the campaign is for, minus those this run (or this trigger) already has a row for."""
    if campaign.trigger:
        source = (COMPOSE_SQL / f"trigger_{campaign.trigger.replace('.', '_')}.sql").read_text(encoding="utf-8")
        params: list = []
        run = f"{sql_literal(campaign.name)} || '#' || trigger_ref"
    elif campaign.segments:
        source = (COMPOSE_SQL / "audience_segments.sql").read_text(encoding="utf-8")
        params = [list(campaign.segments), list(campaign.exclude_segments)]
        run = sql_literal(f"{campaign.name}@{as_of.isoformat()}")
    else:
        # the analyst's SELECT runs as a subquery: only its contact_id column is used
        source = f"SELECT DISTINCT contact_id, {sql_literal(campaign.audience_sql)} AS audience_segment, " \
                 f"NULL::VARCHAR AS trigger_ref, NULL::TIMESTAMPTZ AS trigger_at " \
                 f"FROM ({audience_query(campaign)}) WHERE contact_id IS NOT NULL"
        params = []
        run = sql_literal(f"{campaign.name}@{as_of.isoformat()}")
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE compose_audience AS
            SELECT a.contact_id::BIGINT AS contact_id, a.audience_segment::VARCHAR AS audience_segment,
                   a.trigger_ref::VARCHAR AS trigger_ref, a.trigger_at::TIMESTAMPTZ AS trigger_at,
                   {run}::VARCHAR AS campaign_run
            FROM ({source}) a
            WHERE a.contact_id IN (SELECT contact_id FROM contacts)""", params)
    except duckdb.Error as exc:
        where = campaign.folder / campaign.audience_sql if campaign.audience_sql else campaign.name
        raise CampaignError(f"{where}: the audience query failed: {str(exc).splitlines()[0]}") from None
    if campaign.audience_sql and campaign.exclude_segments:
        con.execute("DELETE FROM compose_audience WHERE contact_id IN (SELECT contact_id FROM segment_membership "
                    "WHERE list_contains(?, segment))", [list(campaign.exclude_segments)])
    # idempotency: a contact this run already has a row for, or a trigger already answered, is left alone
    con.execute("""
        DELETE FROM compose_audience a WHERE EXISTS (
            SELECT 1 FROM messages m WHERE m.campaign_run = a.campaign_run AND m.contact_id = a.contact_id)
          OR (a.trigger_ref IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.campaign = ? AND m.trigger_ref = a.trigger_ref))""", [campaign.name])
    return con.execute("SELECT count(*) FROM compose_audience").fetchall()[0][0]


def decide(con: duckdb.DuckDBPyConnection) -> int:
    """compose_decisions: each audience member queued on a channel or suppressed with its reason; how many queued."""
    run_sql_file(con, COMPOSE_SQL / "decide.sql")
    return con.execute("SELECT count(*) FROM compose_decisions WHERE status = 'queued'").fetchall()[0][0]


def decide_in_parts(con: duckdb.DuckDBPyConnection, first_share: float | None,
                    columns: list[str] | None = None) -> Iterator[pa.Table]:
    """Decide and gather the context of the audience in parts (lowest contact ids first), yielding each part's
    context rows (`columns` of them, else all) as soon as it has them: rendering the first part covers the SQL
    of the rest.

    Each part numbers its decisions from the last part's; once every part is taken, compose_decisions holds
    them all, numbered as one run over the whole audience would (order by contact_id, trigger_ref)."""
    if first_share is None:
        decide(con)
        yield context_table(con, columns)
        return
    con.execute("CREATE OR REPLACE TEMP TABLE compose_audience_run AS SELECT * FROM compose_audience")
    cut = con.execute("SELECT quantile_disc(contact_id, ?) FROM compose_audience_run", [first_share]).fetchall()[0][0]
    offset = 0
    for where in ("contact_id <= ?", "contact_id > ?"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE compose_audience AS SELECT * FROM compose_audience_run WHERE {where}",
                    [cut])
        decide(con)
        made = "INSERT INTO compose_decisions_run" if offset else "CREATE OR REPLACE TEMP TABLE compose_decisions_run AS"
        con.execute(f"{made} SELECT * REPLACE (decision_no + ? AS decision_no) FROM compose_decisions", [offset])
        rows = context_table(con, columns, offset)
        offset += con.execute("SELECT count(*) FROM compose_decisions").fetchall()[0][0]
        yield rows
    con.execute("CREATE OR REPLACE TEMP TABLE compose_audience AS SELECT * FROM compose_audience_run")
    con.execute("CREATE OR REPLACE TEMP TABLE compose_decisions AS SELECT * FROM compose_decisions_run")
    con.execute("DROP TABLE compose_audience_run")
    con.execute("DROP TABLE compose_decisions_run")


def context_rows(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """One flat row per queued decision with every template variable (warehouse/compose/context.sql)."""
    return pl.from_arrow(context_table(con))


def context_table(con: duckdb.DuckDBPyConnection, columns: list[str] | None = None, offset: int = 0) -> pa.Table:
    """context_rows as an Arrow table, only `columns` (else all), decision_no moved on by `offset`."""
    moved = f"decision_no + {int(offset)} AS decision_no"
    picked = ", ".join(moved if n == "decision_no" else sql_identifier(n) for n in columns) if columns else \
        f"* REPLACE ({moved})"
    sql = (COMPOSE_SQL / "context.sql").read_text(encoding="utf-8").strip().rstrip(";")
    return con.sql(f"SELECT {picked} FROM ({sql}) ORDER BY decision_no").to_arrow_table()


# what an outbox row takes from its decision, beside what rendering gave (warehouse/compose/outbox_rows.sql)
DECISION_COLUMNS = ("decision_no", "contact_id", "channel", "language", "address", "status", "send_after",
                    "consent_address", "consent_source", "consent_recorded_at", "trigger_ref", "campaign_run",
                    "audience_segment", "channel_reason", "suppression_reason")


@dataclass
class OutboxWriter:
    """Writes this run's outbox rows inside the caller's transaction, in SQL (warehouse/compose/outbox_rows.sql).

    A rendered chunk (decision_no and what rendering gave) is put beside its decisions by position: chunks
    come in decision order, so each one is a slice of the queued decisions, taken once. A write costs what
    its chunk holds, not the audience (a join would scan every decision for every chunk, and copy the
    chunk's bodies into its hash table). Only the failures stay in compose_failed, for the counts. With
    `dry_run` nothing reaches messages."""
    con: duckdb.DuckDBPyConnection
    campaign: Campaign
    batch: str | None = None
    dry_run: bool = False
    rendered: int = 0
    written: int = 0

    def __post_init__(self):
        self.sql = (COMPOSE_SQL / "outbox_rows.sql").read_text(encoding="utf-8")
        self.con.execute("CREATE OR REPLACE TEMP TABLE compose_failed (decision_no BIGINT, reason VARCHAR)")
        self.queued: pa.Table | None = None   # the queued decisions in decision order, once every part is decided

    def _decisions(self, status: str) -> pa.Table:
        return self.con.sql(f"SELECT {', '.join(DECISION_COLUMNS)} FROM compose_decisions WHERE status = ? "
                            "ORDER BY decision_no", params=[status]).to_arrow_table()

    def _beside(self, rendered: pa.Table) -> pa.Table:
        """A rendered chunk with the columns of the decisions it renders."""
        if self.queued is None:
            self.queued = self._decisions("queued")
        decided = self.queued.slice(self.rendered, rendered.num_rows)   # the next ones: chunks come in order
        numbers = rendered.column("decision_no").combine_chunks()
        if not decided.column("decision_no").combine_chunks().equals(numbers):   # a bug, never data
            raise RuntimeError(f"rendered messages from decision {numbers[0]} on are not the next queued decisions")
        return _joined(decided, rendered)

    def _insert(self, table: pa.Table) -> None:
        self.con.register("compose_rendered", table)
        try:
            self.con.execute("INSERT INTO compose_failed SELECT decision_no, reason FROM compose_rendered "
                             "WHERE reason IS NOT NULL")
            if not self.dry_run:
                self.written += self.con.execute(self.sql, {
                    "campaign": self.campaign.name, "is_marketing": self.campaign.is_marketing,
                    "batch": self.batch}).fetchall()[0][0]
        finally:
            self.con.unregister("compose_rendered")

    def write_suppressed(self, rendered_schema: pa.Schema) -> None:
        """The decisions suppressed before rendering (consent, frequency cap, erasure, no address)."""
        decided = self._decisions("suppressed")
        nothing = pa.table([pa.nulls(decided.num_rows, f.type) for f in rendered_schema],
                           schema=rendered_schema)   # nothing rendered for them
        self._insert(_joined(decided, nothing))

    def write(self, chunks: list[pa.Table]) -> None:
        """Rendered chunks of queued decisions (Arrow tables): one INSERT for all of them."""
        beside = []
        for chunk in chunks:
            if chunk.num_rows:
                beside.append(self._beside(chunk))
                self.rendered += chunk.num_rows
        if beside:
            self._insert(pa.concat_tables(beside))


def _joined(decided: pa.Table, rendered: pa.Table) -> pa.Table:
    """Decision columns, then the rendered ones (row for row; rendered's decision_no is the decision's)."""
    others = [name for name in rendered.column_names if name != "decision_no"]
    return pa.Table.from_arrays([*decided.columns, *(rendered.column(n) for n in others)],
                                names=[*decided.column_names, *others])


def outcomes(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """This run's decisions by status, channel, language and suppression reason (failed renderings suppressed)."""
    return query_frame(con, (COMPOSE_SQL / "outcomes.sql").read_text(encoding="utf-8"))

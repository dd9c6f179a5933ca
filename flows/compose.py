"""`legatura compose CAMPAIGN`: check, select the audience, decide, render on every core, queue in one transaction."""
from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import itertools
import time
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import polars as pl
from legatura.flows.check import CampaignCheckFailed, check_campaign, organisation_of
from legatura.flows.compose_outbox import OutboxWriter, decide_in_parts, outcomes, put_params, select_audience
from legatura.flows.config import Settings, load_settings
from legatura.flows.letter_pages import letters_folder, write_letter_batch
from legatura.flows.render_pool import default_workers, render_chunks, render_pool
from legatura.flows.render_worker import RESULT_SCHEMA
from legatura.transforms.campaigns import load_campaign
from legatura.transforms.context import row_columns
from legatura.transforms.render import campaign_sections
from legatura.warehouse.db import open_for_write
from prefect import flow

QUEUED_EVENT = "legatura.messages.queued"
WRITE_ROWS = 5000   # outbox rows per INSERT: fewer, larger statements
FIRST_SHARE = 0.2   # of a large audience decided first: its rendering covers deciding the rest


@dataclass
class ComposeSummary:
    campaign: str
    as_of: date
    dry_run: bool
    audience: int = 0
    queued: int = 0
    suppressed: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    by_language: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    letters_file: str | None = None
    sample: str | None = None
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)   # seconds per step: where the time goes

    def lines(self) -> list[str]:
        verb = "would queue" if self.dry_run else "queued"
        out = [f"{self.campaign} as of {self.as_of}: audience {self.audience}, {verb} {self.queued}, "
               f"suppressed {self.suppressed} ({self.seconds:.2f} s)"]
        fmt = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        out += [f"  by channel: {fmt(self.by_channel)}", f"  by language: {fmt(self.by_language)}",
                f"  suppressed by reason: {fmt(self.by_reason)}"]
        out += [f"  warning: {w}" for w in self.warnings]
        if self.letters_file:
            out.append(f"  letters to print: {self.letters_file}")
        if self.sample:
            out += ["  sample message:", *("    " + line for line in self.sample.splitlines())]
        return out


def compose_campaign(con: duckdb.DuckDBPyConnection, settings: Settings, name: str, as_of: date,
                     dry_run: bool = False, workers: int | None = None, now: datetime | None = None
                     ) -> ComposeSummary:
    """Queue one campaign's messages (or, dry, count them); every audience member ends with exactly one row."""
    with _gc_frozen():
        return _compose(con, settings, name, as_of, dry_run, workers, now)


@contextlib.contextmanager
def _gc_frozen():
    """The objects alive when compose starts (every imported module: Prefect's, Polars', ...) are left out of
    the garbage collector's passes until it ends: nothing of them becomes garbage meanwhile, and each full
    pass over them costs a tenth of a second in a process that imported Prefect."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _compose(con: duckdb.DuckDBPyConnection, settings: Settings, name: str, as_of: date, dry_run: bool,
             workers: int | None, now: datetime | None) -> ComposeSummary:
    started = time.perf_counter()
    templates = settings.templates.path
    campaign = load_campaign(templates, name)
    clock = _Clock()
    workers = default_workers(settings.compose.render_workers) if workers is None else workers
    organisation = organisation_of(settings)
    # the audience's size says whether to render on several processes; they start now, importing and
    # compiling while the campaign is checked (on a sample of this audience, on its own connection and
    # thread) and the SQL decides; nothing is written before the check passes
    run_at = put_params(con, settings, campaign, as_of, now)
    audience = select_audience(con, campaign, as_of)
    with render_pool(templates, campaign, organisation, as_of, workers, audience) as pool, \
            _Threads(con, 1 if pool is not None else None) as threads, \
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="legatura-check") as checker:
        checking = checker.submit(_check, settings, name, as_of, con.cursor())
        clock.lap("audience")
        columns = row_columns(campaign_sections(templates, campaign))   # only what the templates read
        # on several processes, a first part of the audience renders while the SQL decides the rest
        rendering = [render_chunks(rows, templates, campaign, organisation, as_of, pool)
                     for rows in decide_in_parts(con, FIRST_SHARE if pool is not None else None, columns)]
        queued = con.execute("SELECT count(*) FROM compose_decisions WHERE status = 'queued'").fetchall()[0][0]
        clock.lap("decide")
        report = checking.result()
        if not report.ok:
            raise CampaignCheckFailed(f"campaign {name} failed its check, nothing queued: " + "; ".join(report.errors))
        summary = ComposeSummary(name, as_of, dry_run, audience=audience,
                                 warnings=list(dict.fromkeys(report.warnings))[:10], phases=clock.phases)
        clock.lap("check")
        batch = None
        if "letter" in campaign.channels:
            batch = f"{name}@{as_of.isoformat()}" if not campaign.trigger else f"{name}@{run_at:%Y-%m-%dT%H%M%S}"
        writer = OutboxWriter(con, campaign, batch, dry_run)
        _queue(con, writer, itertools.chain.from_iterable(rendering), queued, summary, clock, threads.restore)
    _count(summary, outcomes(con))
    if batch and not dry_run and summary.by_channel.get("letter"):
        summary.letters_file = str(write_letter_batch(con, batch, letters_folder(settings), templates,
                                                      settings.organisation.language))
    summary.seconds = time.perf_counter() - started
    return summary


def _check(settings: Settings, name: str, as_of: date, cursor: duckdb.DuckDBPyConnection):
    """`legatura check` on its own connection (its temporary tables are its own), then closed."""
    try:
        return check_campaign(settings, name, as_of, cursor)
    finally:
        cursor.close()


class _Threads:
    """DuckDB on `threads` threads while the render processes hold the cores (None: unchanged): a second DuckDB
    thread there only competes with them and costs more CPU than it saves. `restore` gives the cores back (the
    commit, after the last chunk, has them to itself)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, threads: int | None):
        self.con, self.threads, self.before = con, threads, None

    def __enter__(self) -> _Threads:
        if self.threads is not None:
            self.before = int(self.con.execute("SELECT current_setting('threads')").fetchall()[0][0])
            self.con.execute(f"SET threads = {int(self.threads)}")
        return self

    def restore(self) -> None:
        if self.before is not None:
            self.con.execute(f"SET threads = {self.before}")
            self.before = None

    def __exit__(self, *exc) -> None:
        self.restore()


class _Clock:
    """Seconds spent per step, summed over laps (rendering and writing interleave chunk by chunk)."""

    def __init__(self):
        self.phases: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now


def _queue(con, writer: OutboxWriter, rendered_chunks, queued: int, summary: ComposeSummary,
           clock: _Clock, rendered_all) -> None:
    """Write the suppressed rows, then the rendered chunks as they arrive, in one transaction; `rendered_all()`
    is called once the last chunk is in."""
    if not writer.dry_run:
        con.execute("BEGIN TRANSACTION")
    try:
        writer.write_suppressed(RESULT_SCHEMA)
        pending: list = []
        for rendered in rendered_chunks:
            clock.lap("render")
            if summary.sample is None:
                summary.sample = _sample(con, rendered)
            pending.append(rendered)
            if sum(p.num_rows for p in pending) >= WRITE_ROWS:
                writer.write(pending)
                pending = []
            clock.lap("write")
        rendered_all()   # the render processes are done: the last write and the commit have the cores
        writer.write(pending)
        if writer.rendered != queued:   # every queued decision rendered once: a bug, never data
            raise RuntimeError(f"rendered {writer.rendered} messages for {queued} queued decisions")
        decided = con.execute("SELECT count(*) FROM compose_decisions").fetchall()[0][0]
        if not writer.dry_run and writer.written != decided:   # exactly one outbox row per audience member
            raise RuntimeError(f"wrote {writer.written} outbox rows for {decided} decisions")
        if not writer.dry_run:
            con.execute("COMMIT")
        clock.lap("commit")
    except BaseException:
        if not writer.dry_run:
            con.execute("ROLLBACK")
        raise


def _sample(con, rendered) -> str | None:
    """The first message of a chunk (an Arrow table) that rendered, as the summary shows it."""
    ok = pl.from_arrow(rendered).filter(pl.col("reason").is_null())
    if not ok.height:
        return None
    row = ok.row(0, named=True)
    channel, language, contact_id = con.execute(
        "SELECT channel, language, contact_id FROM compose_decisions WHERE decision_no = ?",
        [row["decision_no"]]).fetchall()[0]
    head = f"[{channel}, {language}, contact {contact_id}]"
    if row["subject"]:
        head += f" Subject: {row['subject']}"
    body = row["body_text"] or "(printable letter, HTML only)"
    return head + "\n" + body


def _count(summary: ComposeSummary, outcome: pl.DataFrame) -> None:
    queued = outcome.filter(pl.col("status") == "queued")
    summary.queued = int(queued.get_column("messages").sum())
    summary.suppressed = int(outcome.get_column("messages").sum()) - summary.queued
    tally = lambda frame, column: {k: int(v) for k, v in frame.group_by(column).agg(pl.col("messages").sum())  # noqa: E731
                                   .drop_nulls(column).iter_rows()}
    summary.by_channel = tally(queued, "channel")
    summary.by_language = tally(queued, "language")
    summary.by_reason = tally(outcome, "suppression_reason")


@flow(name="compose")
def compose_flow(campaign: str, config: str | None = None, as_of: date | None = None,
                 dry_run: bool = False) -> ComposeSummary:
    """Queue a campaign's personalised messages in the outbox (a dry run writes nothing)."""
    settings = load_settings(config)
    when = as_of or settings.today()
    with open_for_write(settings.warehouse.path, f"legatura compose {campaign}",
                        settings.warehouse.lock_timeout_seconds,
                        snapshot_path=None if dry_run else settings.warehouse.snapshot,
                        snapshot_min_seconds=settings.warehouse.snapshot_min_seconds) as con:
        summary = compose_campaign(con, settings, campaign, when, dry_run)
    if summary.queued and not dry_run:
        from prefect.events import emit_event

        # counts only: no personal data in events
        emit_event(QUEUED_EVENT, resource={"prefect.resource.id": f"legatura.campaign.{campaign}"},
                   payload={"campaign": campaign, "as_of": when.isoformat(), "queued": summary.queued,
                            "suppressed": summary.suppressed, "by_channel": summary.by_channel})
    return summary

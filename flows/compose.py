"""`legatura compose CAMPAIGN`: check, select the audience, decide, render on every core, queue in one transaction."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb
import polars as pl
from legatura.flows.check import CampaignCheckFailed, check_campaign, organisation_of
from legatura.flows.compose_outbox import OutboxWriter, context_rows, decide, put_params, select_audience
from legatura.flows.config import Settings, load_settings
from legatura.flows.letter_pages import letters_folder, write_letter_batch
from legatura.flows.render_pool import default_workers, render_chunks, render_pool
from legatura.transforms.campaigns import load_campaign
from legatura.warehouse.db import open_for_write
from prefect import flow

QUEUED_EVENT = "legatura.messages.queued"
WRITE_ROWS = 5000   # outbox rows per INSERT: fewer, larger statements


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
    started = time.perf_counter()
    templates = settings.templates.path
    campaign = load_campaign(templates, name)
    clock = _Clock()
    report = check_campaign(settings, name, as_of, con)
    if not report.ok:
        raise CampaignCheckFailed(f"campaign {name} failed its check, nothing queued: " + "; ".join(report.errors))
    summary = ComposeSummary(name, as_of, dry_run, warnings=list(dict.fromkeys(report.warnings))[:10],
                             phases=clock.phases)
    clock.lap("check")
    run_at = put_params(con, settings, campaign, as_of, now)
    summary.audience = select_audience(con, campaign, as_of)
    clock.lap("audience")
    workers = default_workers(settings.compose.render_workers) if workers is None else workers
    organisation = organisation_of(settings)
    with render_pool(templates, campaign, organisation, as_of, workers, summary.audience) as pool:
        decisions = decide(con)
        clock.lap("decide")
        rows = context_rows(con)
        clock.lap("context")
        batch = None
        if "letter" in campaign.channels:
            batch = f"{name}@{as_of.isoformat()}" if not campaign.trigger else f"{name}@{run_at:%Y-%m-%dT%H%M%S}"
        final = _queue(con, campaign, decisions, render_chunks(rows, templates, campaign, organisation, as_of, pool),
                       batch, dry_run, summary, clock)
    outcome = pl.concat(final) if final else pl.DataFrame()
    _count(summary, outcome)
    if batch and not dry_run and summary.by_channel.get("letter"):
        summary.letters_file = str(write_letter_batch(con, batch, letters_folder(settings), templates,
                                                      settings.organisation.language))
    summary.seconds = time.perf_counter() - started
    return summary


class _Clock:
    """Seconds spent per step, summed over laps (rendering and writing interleave chunk by chunk)."""

    def __init__(self):
        self.phases: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self.last
        self.last = now


def _queue(con, campaign, decisions: pl.DataFrame, rendered_chunks, batch: str | None, dry_run: bool,
           summary: ComposeSummary, clock: _Clock) -> list[pl.DataFrame]:
    """Write the suppressed rows, then each rendered chunk as it arrives, in one transaction."""
    final: list[pl.DataFrame] = []
    writer = OutboxWriter(con, campaign)
    if not dry_run:
        con.execute("BEGIN TRANSACTION")
    try:
        suppressed = _with_outcome(decisions.filter(pl.col("status") == "suppressed"), None, batch)
        final.append(suppressed.select("status", "channel", "language", "suppression_reason"))
        if not dry_run:
            writer.write(suppressed)
        # context rows come in decision order, so each rendered chunk lines up with the next queued slice
        queued = decisions.filter(pl.col("status") == "queued")
        done, pending = 0, []
        for rendered in rendered_chunks:
            clock.lap("render")
            decided = queued.slice(done, rendered.height)
            done += rendered.height
            if not decided.get_column("decision_no").equals(rendered.get_column("decision_no")):
                raise RuntimeError("rendered messages out of step with their decisions")  # a bug, never data
            part = _with_outcome(decided.hstack(rendered.drop("decision_no")), rendered, batch)
            if summary.sample is None:
                summary.sample = _sample(part)
            final.append(part.select("status", "channel", "language", "suppression_reason"))
            pending.append(part)
            if not dry_run and sum(p.height for p in pending) >= WRITE_ROWS:
                writer.write(pl.concat(pending))
                pending = []
            clock.lap("write")
        if not dry_run and pending:
            writer.write(pl.concat(pending))
        if not dry_run:
            con.execute("COMMIT")
        clock.lap("commit")
    except BaseException:
        if not dry_run:
            con.execute("ROLLBACK")
        raise
    return final


def _with_outcome(frame: pl.DataFrame, rendered: pl.DataFrame | None, batch: str | None) -> pl.DataFrame:
    """Decisions (joined with their rendering, if any) as outbox rows; a failed render suppresses its row."""
    if rendered is None:
        frame = frame.with_columns(subject=pl.lit(None, pl.String), body_text=pl.lit(None, pl.String),
                                   body_html=pl.lit(None, pl.String), sms_segments=pl.lit(None, pl.Int32),
                                   reason=pl.lit(None, pl.String), error=pl.lit(None, pl.String))
    failed = pl.col("reason").is_not_null()
    return frame.with_columns(
        status=pl.when(failed).then(pl.lit("suppressed")).otherwise(pl.col("status")),
        suppression_reason=pl.coalesce(pl.col("suppression_reason"), pl.col("reason")),
        send_after=pl.when(failed).then(None).otherwise(pl.col("send_after")),
        subject=pl.when(failed).then(None).otherwise(pl.col("subject")),
        body_text=pl.when(failed).then(None).otherwise(pl.col("body_text")),
        body_html=pl.when(failed).then(None).otherwise(pl.col("body_html")),
        address=pl.when(failed).then(None).otherwise(pl.col("address")),
        consent_address=pl.when(failed).then(None).otherwise(pl.col("consent_address")),
        consent_source=pl.when(failed).then(None).otherwise(pl.col("consent_source")),
        consent_recorded_at=pl.when(failed).then(None).otherwise(pl.col("consent_recorded_at")),
        batch=pl.when((pl.col("channel") == "letter") & (pl.col("status") == "queued") & ~failed)
        .then(pl.lit(batch)).otherwise(None),
    )


def _sample(part: pl.DataFrame) -> str | None:
    queued = part.filter(pl.col("status") == "queued")
    if not queued.height:
        return None
    row = queued.row(0, named=True)
    head = f"[{row['channel']}, {row['language']}, contact {row['contact_id']}]"
    if row["subject"]:
        head += f" Subject: {row['subject']}"
    body = row["body_text"] or "(printable letter, HTML only)"
    return head + "\n" + body


def _count(summary: ComposeSummary, outcome: pl.DataFrame) -> None:
    if not outcome.height:
        return
    queued = outcome.filter(pl.col("status") == "queued")
    summary.queued = queued.height
    summary.suppressed = outcome.height - queued.height
    summary.by_channel = dict(Counter(queued.get_column("channel").to_list()))
    summary.by_language = dict(Counter(queued.get_column("language").to_list()))
    summary.by_reason = dict(Counter(outcome.get_column("suppression_reason").drop_nulls().to_list()))


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

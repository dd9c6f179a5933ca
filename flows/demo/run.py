"""`legatura demo`: a self-contained working folder around generated data, the whole pipeline on it, and where to look.

The run: generate exports -> the chain (`legatura run`: ingest, segments, journeys such as the thank-yous,
send, response times) -> two marketing campaigns composed and sent -> the chain and the campaigns again
(nothing loaded, queued or sent twice). Mail goes to a local SMTP sink (flows/demo/mail_sink.py) that keeps
each message as a .eml file in outbox/mail/; letters are printable HTML in outbox/letters/.
"""
from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.demo.generate import CHANNELS, generate_demo_data
from legatura.flows.demo.mail_sink import MailSink
from legatura.flows.demo.workdir import (
    copy_templates,
    demo_environment,
    demo_settings,
    prepare_workdir,
    write_demo_config,
    write_token_secret,
)

MARKETING = ("lybunt-winback", "volunteer-reengage")     # composed and sent after the chain, as an officer would

# tables whose row counts tell whether an ingest added anything
COUNTED_TABLES = ("contacts", "contact_identities", "interactions", "donations", "donation_refunds",
                  "volunteer_shifts", "partners", "consent_events", "quarantine")


@dataclass
class ChannelFigures:
    """Files and records of one channel in the demo's first ingest."""

    files: int = 0
    read: int = 0
    loaded: int = 0
    duplicate: int = 0
    quarantined: int = 0


@dataclass
class CampaignFigures:
    """One campaign's compose in the demo: who it was for, what was queued, what stopped the rest."""

    audience: int = 0
    queued: int = 0
    suppressed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class DemoResult:
    """What `legatura demo` generated, loaded, found, composed and sent, and where to look."""

    workdir: Path
    config: Path
    landing: Path
    warehouse: Path
    snapshot: Path
    as_of: date
    mail_folder: Path = Path()
    letters_folder: Path = Path()
    secret_file: Path = Path()
    generated: dict[str, int] = field(default_factory=dict)
    generation_seconds: float = 0.0
    channels: dict[str, ChannelFigures] = field(default_factory=dict)
    loaded: int = 0
    duplicate: int = 0
    quarantined: int = 0
    contacts: int = 0
    organisations: int = 0
    merges: int = 0
    possible_duplicates: int = 0
    segments: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    answered: int = 0
    answered_within_sla: int = 0
    open_requests: int = 0
    median_first_response_seconds: float | None = None
    requests_by_channel: dict[str, int] = field(default_factory=dict)
    campaigns: dict[str, CampaignFigures] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)          # status -> messages
    sent: dict[str, int] = field(default_factory=dict)            # channel -> messages sent
    waiting: dict[str, int] = field(default_factory=dict)         # channel -> still queued
    suppressed_by_reason: dict[str, int] = field(default_factory=dict)
    mails_received: int = 0                                       # .eml files the sink kept
    letter_files: list[str] = field(default_factory=list)
    send_notes: list[str] = field(default_factory=list)
    reingest_files: int = 0
    reingest_new_rows: int = 0
    rerun_queued: int = 0
    rerun_sent: int = 0
    why_command: str = ""
    why_lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        from legatura.transforms.tracking import describe_seconds

        fmt = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        out = [f"demo data for {self.as_of}: {sum(self.generated.values())} records in "
               f"{sum(c.files for c in self.channels.values())} files, generated in {self.generation_seconds:.1f} s"]
        out.append(f"  {'channel':<11}{'files':>6}{'read':>7}{'loaded':>8}{'dupl.':>7}{'quar.':>7}")
        for name, c in self.channels.items():
            out.append(f"  {name:<11}{c.files:>6}{c.read:>7}{c.loaded:>8}{c.duplicate:>7}{c.quarantined:>7}")
        out.append(f"ingested: loaded {self.loaded}, duplicate {self.duplicate} (overlapping exports), "
                   f"quarantined {self.quarantined} (broken on purpose)")
        out.append(f"contacts: {self.contacts} ({self.organisations} organisations), {self.merges} merges "
                   f"across channels, {self.possible_duplicates} same-name pairs left for review")
        seg = [f"{name} {count}" for name, count in self.segments.items()]
        out.append("segments: " + (", ".join(seg) if seg else "none"))
        share = f"{self.answered_within_sla / self.requests:.0%}" if self.requests else "-"
        by_channel = ", ".join(f"{k} {v}" for k, v in self.requests_by_channel.items())
        out.append(f"response times: {self.requests} requests ({by_channel}); {self.answered} answered, median "
                   f"first response {describe_seconds(self.median_first_response_seconds)}; {share} within the "
                   f"SLA; {self.open_requests} still open")
        out.append("messages (journeys in the chain, then " + " and ".join(MARKETING) + " composed and sent):")
        for name, c in self.campaigns.items():
            out.append(f"  {name:<20} audience {c.audience:>3}: queued {c.queued:>3}, suppressed {c.suppressed:>3}"
                       + (f" ({fmt(c.by_reason)})" if c.by_reason else ""))
        out.append(f"  sent: {fmt(self.sent)}; still queued: {fmt(self.waiting)}; suppressed by reason: "
                   f"{fmt(self.suppressed_by_reason)}")
        out += [f"  {note}" for note in self.send_notes]
        out.append(f"  the local SMTP sink received {self.mails_received} message(s): {self.mail_folder}/*.eml")
        out.append(f"ran the chain and the campaigns again: {self.reingest_files} files, {self.reingest_new_rows} "
                   f"new rows, {self.rerun_queued} messages queued, {self.rerun_sent} sent (nothing twice)")
        if self.why_command:
            out.append(f"why, for one person: {self.why_command}")
            out += [f"  {line}" for line in self.why_lines]
        secret = f'LEGATURA_TOKENS__SECRET="$(cat {self.secret_file})"'
        out += [
            "where to look:",
            f"  mail (.eml)      {self.mail_folder}/   (open any file in a mail client)",
            f"  letters          {self.letters_folder}/   (" + (", ".join(self.letter_files) or "none")
            + "; print from a browser)",
            f"  landing folder   {self.landing}",
            f"  warehouse        {self.warehouse}",
            f"  snapshot         {self.snapshot}",
            f"  SQL              .venv/bin/legatura --config {self.config} sql \"select * from open_requests limit 5\"",
            f"  outbox           .venv/bin/legatura --config {self.config} sql "
            "\"select campaign, channel, status, suppression_reason, count(*) from messages group by all order by all\"",
            f"  SQL shell        duckdb -readonly {self.snapshot}   (DuckDB's own client, if installed)",
            f"  Python           import duckdb; con = duckdb.connect({str(self.snapshot)!r}, read_only=True); "
            "con.sql('select segment, count(*) from segment_membership group by all').show()",
            f"  quarantine       .venv/bin/legatura --config {self.config} sql "
            "\"select source_file, line_or_key, reason from quarantine\"",
            f"  unsubscribe      {secret} .venv/bin/legatura --config {self.config} web   "
            "(then open a List-Unsubscribe link of a mail)",
            f"  configuration    {self.config} (cd {self.workdir} && legatura run)",
        ]
        out += [f"FAILED: {f}" for f in self.failures]
        return out

def _table_rows(con) -> int:
    from legatura.warehouse.db import fetch_one

    return sum(fetch_one(con, f"SELECT count(*) FROM {table}")[0] for table in COUNTED_TABLES)


def run_demo(workdir: Path, say: Callable[[str], None], as_of: date | None = None, seed: int = 7,
             people: int = 300) -> DemoResult:
    """Generate demo exports in workdir/landing, run the whole pipeline on them with a local SMTP sink, run it
    again (nothing twice), summarise."""
    started = clock.perf_counter()
    as_of = as_of or Settings().today()
    workdir = prepare_workdir(Path(workdir))
    config = write_demo_config(workdir, as_of)
    copy_templates(workdir)
    settings = demo_settings(workdir, config)
    secret, secret_file = write_token_secret(workdir)
    result = DemoResult(workdir, config, settings.landing.path, settings.warehouse.path,
                        settings.warehouse.snapshot, as_of, mail_folder=workdir / "outbox" / "mail",
                        letters_folder=settings.letters.path, secret_file=secret_file)

    say(f"generating demo exports for every channel in {settings.landing.path} ...")
    t0 = clock.perf_counter()
    result.generated = generate_demo_data(settings.landing.path, seed=seed, people=people, today=as_of,
                                          settings=settings)
    result.generation_seconds = clock.perf_counter() - t0

    with MailSink(result.mail_folder) as sink, demo_environment(sink.port, secret):
        say(f"local SMTP sink on 127.0.0.1:{sink.port}: every message sent is kept in {result.mail_folder}")
        _run_pipeline(settings, config, as_of, result, say)
        result.mails_received = sink.received
    result.seconds = clock.perf_counter() - started
    for line in result.lines():
        say(line)
    return result


def _run_pipeline(settings: Settings, config: Path, as_of: date, result: DemoResult,
                  say: Callable[[str], None]) -> None:
    from legatura.flows import progress
    from legatura.flows.compose import compose_flow
    from legatura.flows.pipeline import pipeline_flow
    from legatura.flows.send import send_flow
    from legatura.warehouse import db

    channels: dict[str, ChannelFigures] = {name: ChannelFigures() for name in CHANNELS}

    def count(summary) -> None:
        c = channels.setdefault(summary.channel, ChannelFigures())
        c.files += 1
        c.read += summary.rows_read
        c.loaded += summary.rows_ingested
        c.duplicate += summary.rows_duplicate
        c.quarantined += summary.rows_quarantined

    say("running the chain: ingest landing/ -> segments -> journeys (thank-yous, welcomes) -> send -> "
        "response times ...")
    with progress.listening(on_file=count, notify=say):
        run = pipeline_flow(str(config), as_of)
    result.failures.extend(run.failures)
    # the response-time headline is the one `legatura track` prints
    result.requests, result.answered = run.tracking.requests, run.tracking.answered
    result.answered_within_sla, result.open_requests = run.tracking.answered_within_sla, run.tracking.open_requests
    result.median_first_response_seconds = run.tracking.median_first_response_seconds
    result.channels = {k: v for k, v in channels.items() if v.files}
    result.loaded = sum(c.loaded for c in channels.values())
    result.duplicate = sum(c.duplicate for c in channels.values())
    result.quarantined = sum(c.quarantined for c in channels.values())
    for summary in run.journeys.composed:
        result.campaigns[summary.campaign] = CampaignFigures(summary.audience, summary.queued, summary.suppressed,
                                                             dict(summary.by_reason))

    say("composing " + " and ".join(MARKETING) + ", then sending ...")
    with progress.listening(notify=say):
        for name in MARKETING:
            summary = compose_flow(name, str(config), as_of)
            result.campaigns[name] = CampaignFigures(summary.audience, summary.queued, summary.suppressed,
                                                     dict(summary.by_reason))
        sent = send_flow(str(config))
    if sent.failure:
        result.failures.append(f"send: {sent.failure}")
    result.send_notes = list(sent.notes)

    con = db.connect(settings.warehouse.path, read_only=True)
    try:
        rows_before = _table_rows(con)
        messages_before = db.fetch_one(con, "SELECT count(*) FROM messages")[0]
    finally:
        con.close()
    say("running the chain and the campaigns again (nothing may be loaded, queued or sent twice) ...")
    with progress.listening(notify=say):
        again = pipeline_flow(str(config), as_of)
        queued_again = sum(compose_flow(name, str(config), as_of).queued for name in MARKETING)
        sent_again = send_flow(str(config))
    result.failures.extend(again.failures)
    result.reingest_files = len(again.ingest.files)
    result.rerun_queued = again.journeys.queued + queued_again
    result.rerun_sent = sum(n for summary in (again.sending, sent_again) for key, n in summary.outcomes.items()
                            if key.endswith(":sent"))

    con = db.connect(settings.warehouse.path, read_only=True)
    try:
        result.reingest_new_rows = _table_rows(con) - rows_before
        result.rerun_queued = max(result.rerun_queued, db.fetch_one(con, "SELECT count(*) FROM messages")[0]
                                  - messages_before)
        _read_figures(con, result)
        _why_example(con, settings, result)
    finally:
        con.close()
    result.letter_files = sorted(p.name for p in result.letters_folder.glob("*.html")) \
        if result.letters_folder.is_dir() else []


def _read_figures(con, result: DemoResult) -> None:
    """Contacts, merges, segment sizes, the response-time headline and the outbox, straight from the warehouse."""
    from legatura.warehouse.db import fetch_one

    result.contacts, result.organisations = fetch_one(
        con, "SELECT count(*), count(*) FILTER (WHERE kind = 'organisation') FROM contacts")
    result.merges = fetch_one(con, "SELECT count(*) FROM contact_merges")[0]
    result.possible_duplicates = fetch_one(con, "SELECT count(*) FROM possible_duplicates")[0]
    result.segments = dict(con.execute(
        "SELECT segment, count(*) FROM segment_membership GROUP BY segment ORDER BY segment").fetchall())
    result.requests_by_channel = dict(con.execute(
        "SELECT channel, count(*) FROM inbound_response_times GROUP BY channel ORDER BY count(*) DESC").fetchall())
    result.outbox = dict(con.execute("SELECT status, count(*) FROM messages GROUP BY 1 ORDER BY 1").fetchall())
    result.sent = dict(con.execute(
        "SELECT channel, count(*) FROM messages WHERE status = 'sent' GROUP BY 1 ORDER BY 1").fetchall())
    result.waiting = dict(con.execute(
        "SELECT channel, count(*) FROM messages WHERE status = 'queued' GROUP BY 1 ORDER BY 1").fetchall())
    result.suppressed_by_reason = dict(con.execute(
        "SELECT suppression_reason, count(*) FROM messages WHERE status = 'suppressed' GROUP BY 1 ORDER BY 1"
    ).fetchall())


def _why_example(con, settings: Settings, result: DemoResult) -> None:
    """`legatura why` for a person whose marketing email was sent: the consent that allowed it, shown."""
    from legatura.flows.why import explain

    found = con.execute(
        "SELECT c.email, m.campaign FROM messages m JOIN contacts c USING (contact_id) "
        "WHERE m.status = 'sent' AND m.channel = 'email' AND m.is_marketing AND c.email IS NOT NULL "
        "ORDER BY m.campaign, m.contact_id LIMIT 1").fetchall()
    if not found:
        return
    email, campaign = found[0]
    result.why_command = f".venv/bin/legatura --config {result.config} why {email} --campaign {campaign}"
    result.why_lines = explain(con, email, campaign, settings.organisation.timezone)

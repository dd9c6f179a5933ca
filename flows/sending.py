"""Delivery runs (the work of `legatura send`, without Prefect): deliver queued messages whose send_after has come: email over SMTP, SMS through the
gateway, letters as printable files. At most once: see flows/journal.py and flows/smtp_send.py.

A run: take the write lock; recover what a run that died left `sending` (journal + warehouse); re-check
consent, opt-outs and bounces of everything queued; then claim due messages in batches (queued ->
sending, Message-ID stored), hand them over, journal each outcome, write outcomes in batches.
"""
from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
from legatura.flows import outbox
from legatura.flows.after_ingest import after_ingest
from legatura.flows.config import Settings
from legatura.flows.journal import SendJournal, journal_path, read_journal
from legatura.flows.smtp_send import EmailJob, SmtpSender, SmtpUnavailable, connect
from legatura.transforms.delivery import outcome
from legatura.transforms.mime import AddressRefused, MimeBuilder, checked_address, mailbox
from legatura.transforms.tokens import CONFIRM_MARKER, UNSUBSCRIBE_MARKER, MissingTokenSecret, Signer
from legatura.warehouse.db import open_for_write

Progress = Callable[[str, int | None], None]     # (event: "total" | outcome, n) for the CLI's bar


@dataclass
class SendSummary:
    """What one `legatura send` run did."""

    outcomes: dict[str, int] = field(default_factory=dict)      # "channel:outcome" -> messages
    suppressed: int = 0
    recovered: int = 0
    requeued_after_crash: int = 0
    unknown_after_crash: list[str] = field(default_factory=list)
    resent_unknown: int = 0
    email_seconds: float = 0.0
    sms_segments: int = 0
    sms_cost: str = ""
    letter_batches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None     # the one line the command fails with (server down, gateway missing)

    def tally(self, channel: str, kind: str) -> None:
        key = f"{channel}:{kind}"
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def count(self, channel: str, kind: str) -> int:
        return self.outcomes.get(f"{channel}:{kind}", 0)

    @property
    def email_rate(self) -> float:
        sent = self.count("email", "sent")
        return sent / self.email_seconds if self.email_seconds else 0.0

    def lines(self) -> list[str]:
        lines = []
        if self.recovered or self.requeued_after_crash or self.unknown_after_crash:
            lines.append(f"recovered from an interrupted run: {self.recovered} outcome(s) from the journal, "
                         f"{self.requeued_after_crash} never handed over (queued again), "
                         f"{len(self.unknown_after_crash)} unknown (see `legatura send --status`)")
        if self.resent_unknown:
            lines.append(f"queued again {self.resent_unknown} message(s) of unknown fate (--resend-unknown)")
        for channel in ("email", "sms", "letter"):
            kinds = {k.partition(":")[2]: n for k, n in sorted(self.outcomes.items())
                     if k.startswith(channel + ":") and n}
            if kinds:
                said = ", ".join(f"{'retry later' if k == 'retry' else k} {n}" for k, n in kinds.items())
                extra = ""
                if channel == "email" and self.email_seconds:
                    extra = f" in {self.email_seconds:.1f} s ({self.email_rate:.0f}/s)"
                if channel == "sms":
                    extra = f"; {self.sms_segments} segment(s) billed" + (f", {self.sms_cost}" if self.sms_cost else "")
                lines.append(f"{channel}: {said}{extra}")
        if self.letter_batches:
            lines.append("letters: " + ", ".join(self.letter_batches))
        if self.suppressed:
            lines.append(f"suppressed before sending (opt-out, bounce, erasure or no consent): {self.suppressed}")
        if not any(self.outcomes.values()) and not self.suppressed:
            lines.append("nothing due to send")
        return lines + self.notes


@dataclass
class SendOptions:
    limit: int | None = None
    campaign: str | None = None
    resend_unknown: bool = False


def message_id_domain(settings: Settings) -> str:
    domains = [d.strip().lower() for d in settings.organisation.domains if d.strip()]
    return domains[0] if domains else settings.organisation.email.rpartition("@")[2].lower()


def deliver(con: duckdb.DuckDBPyConnection, settings: Settings, options: SendOptions,
            progress: Progress | None = None) -> SendSummary:
    """One send run on an open (write-locked) warehouse connection; see the module docstring."""
    summary = SendSummary()
    path = journal_path(settings.warehouse.path)
    recovery = outbox.recover(con, read_journal(path))
    summary.recovered, summary.requeued_after_crash = recovery.from_journal, recovery.requeued
    summary.unknown_after_crash = recovery.unknown
    journal = SendJournal(path)
    try:
        journal.clear()
        if options.resend_unknown:
            summary.resent_unknown = outbox.resend_unknown(con, options.campaign)
        after_ingest(con, settings)     # clicks waiting in the link file, bounces, confirmations to send
        summary.suppressed = outbox.suppress_queued(con)
        now = datetime.now(timezone.utc)
        due = {ch: outbox.count_due(con, ch, now, options.campaign) for ch in ("email", "sms", "letter")}
        if progress:
            progress("total", sum(due.values()) if options.limit is None else min(options.limit, sum(due.values())))
        remaining = options.limit
        if due["email"] and not settings.tokens.secret.get_secret_value() and _needs_links(con):
            summary.failure = (f"{MissingTokenSecret.__doc__.rstrip('.')}: set it to a long random string; "
                               f"{due['email']} email(s) stay queued")
            due["email"] = 0
        if due["email"]:
            started = time.perf_counter()
            try:
                asyncio.run(_send_email(con, settings, options, journal, summary, progress))
            except SmtpUnavailable as exc:
                left = outbox.count_due(con, "email", now, options.campaign)
                summary.failure = f"{exc}; {left} email(s) stay queued"
            summary.email_seconds = time.perf_counter() - started
        if remaining is not None:
            remaining -= sum(n for k, n in summary.outcomes.items() if k.startswith("email:"))
        if due["sms"] and (remaining is None or remaining > 0):
            from legatura.flows.sms import send_sms

            send_sms(con, settings, SendOptions(remaining, options.campaign), journal, summary, progress)
            if remaining is not None:
                remaining -= sum(n for k, n in summary.outcomes.items() if k.startswith("sms:"))
        if due["letter"] and (remaining is None or remaining > 0):
            from legatura.flows.letters import write_letters

            write_letters(con, settings, SendOptions(remaining, options.campaign), summary, progress, journal)
        journal.clear()
    finally:
        journal.close()
    return summary


def _needs_links(con) -> bool:
    """Is any queued email marketing (List-Unsubscribe) or carrying a link marker to sign?"""
    return con.execute(
        "SELECT count(*) FROM messages WHERE status = 'queued' AND channel = 'email' AND (is_marketing "
        "OR contains(body_text, $u) OR contains(body_html, $u) OR contains(body_text, $c))",
        {"u": UNSUBSCRIBE_MARKER, "c": CONFIRM_MARKER}).fetchall()[0][0] > 0


class EmailParts:
    """Turns claimed rows into EmailJobs: checked addresses, signed links, MIME bytes."""

    def __init__(self, settings: Settings):
        org, smtp = settings.organisation, settings.smtp
        self.settings = settings
        self.builder = MimeBuilder(smtp.from_name or org.name, org.email, smtp.reply_to or org.email)
        self.public_url = org.public_url
        self.mailbox = org.email
        self._signers: dict[str, Signer] = {}

    def signer(self, purpose: str) -> Signer:
        if purpose not in self._signers:
            tokens = self.settings.tokens
            self._signers[purpose] = Signer(tokens.secret.get_secret_value(), purpose, tokens.unsubscribe_days)
        return self._signers[purpose]

    def job(self, row: dict, now: datetime) -> EmailJob:
        address = checked_address(row["address"])
        text, body_html = row["body_text"] or "", row["body_html"]
        unsubscribe = None
        if row["is_marketing"] or UNSUBSCRIBE_MARKER in text or (body_html and UNSUBSCRIBE_MARKER in body_html):
            signer = self.signer("unsubscribe")
            token = signer.sign(row["message_id"], row["address"].strip().lower(), "email", row["language"])
            url = signer.url(self.public_url, token)
            text, body_html = _put_link(text, body_html, UNSUBSCRIBE_MARKER, url)
            if row["is_marketing"]:
                unsubscribe = (url, f"mailto:{self.mailbox}?subject=unsubscribe-{token}")
        if CONFIRM_MARKER in text or (body_html and CONFIRM_MARKER in body_html):
            signer = self.signer("confirm")
            url = signer.url(self.public_url, signer.sign(row["message_id"], row["address"].strip().lower(),
                                                          "email", row["language"]))
            text, body_html = _put_link(text, body_html, CONFIRM_MARKER, url)
        payload = self.builder.build(message_id=row["smtp_message_id"], to=mailbox(row["full_name"], address),
                                     subject=row["subject"], now=now, text=text, html=body_html,
                                     unsubscribe=unsubscribe)
        return EmailJob(row["message_id"], row["attempts"], address, payload)


def _put_link(text: str, body_html: str | None, marker: str, url: str) -> tuple[str, str | None]:
    return text.replace(marker, url), (body_html.replace(marker, html.escape(url)) if body_html else body_html)


async def _send_email(con, settings: Settings, options: SendOptions, journal: SendJournal, summary: SendSummary,
                      progress: Progress | None) -> None:
    smtp = settings.smtp
    loop = asyncio.get_running_loop()
    warehouse = ThreadPoolExecutor(1, thread_name_prefix="warehouse")   # one thread owns the connection
    parts = EmailParts(settings)
    buffer: list[dict] = []
    # the server must answer before anything is claimed: when it is down, everything stays queued
    first = await connect(settings, smtp.connect_tries, smtp.connect_wait_seconds)

    async def record(row: dict) -> None:
        # written at once; durable with the next `handed` fsync, before this connection's next DATA
        journal.append(outbox.journal_line(row))
        buffer.append(row)
        summary.tally("email", row["outcome"])
        if progress:
            progress(row["outcome"], 1)

    async def flush() -> None:
        journal.sync()
        if buffer:
            rows = buffer[:]
            buffer.clear()
            await loop.run_in_executor(warehouse, outbox.apply_outcomes, con, rows)

    sender = SmtpSender(settings, journal, record, smtp.return_path or settings.organisation.email)
    tasks = await sender.run(first)
    domain = message_id_domain(settings)
    claimed = 0
    try:
        while sender.alive:
            want = smtp.batch_size if options.limit is None else min(smtp.batch_size, options.limit - claimed)
            rows = await loop.run_in_executor(warehouse, outbox.claim, con, "email", want, options.campaign, domain)
            if not rows:
                # retries of this run may be due again once their outcomes are written
                await sender.queue.join()
                await flush()
                want = smtp.batch_size if options.limit is None else min(smtp.batch_size, options.limit - claimed)
                rows = await loop.run_in_executor(warehouse, outbox.claim, con, "email", want, options.campaign,
                                                  domain)
                if not rows:
                    break
            claimed += len(rows)
            now = datetime.now(timezone.utc)
            for row in rows:
                try:
                    job = parts.job(row, now)
                except AddressRefused as exc:
                    await record(outcome(row["message_id"], row["attempts"], "email", row["address"], "failed",
                                         now, error=f"refused before sending: {exc}"))
                    continue
                await _offer(sender, job, record)
            if len(buffer) >= smtp.batch_size:
                await flush()
    finally:
        for _ in tasks:
            await _offer(sender, None, record)
        await asyncio.gather(*tasks, return_exceptions=True)
        await flush()
        warehouse.shutdown()
    if sender.lost:
        raise SmtpUnavailable(sender.lost)


async def _offer(sender: SmtpSender, job: EmailJob | None, record) -> None:
    """Queue a job for the connections (waiting for room); with no connection left it goes back queued."""
    while sender.alive:
        if not sender.queue.full():
            sender.queue.put_nowait(job)
            return
        await asyncio.sleep(0.005)
    if job is not None:
        await record(outcome(job.message_id, job.attempt, "email", job.address, "requeued",
                             datetime.now(timezone.utc)))


def run_send(settings: Settings, options: SendOptions, progress: Progress | None = None,
             notify: Callable[[str], None] | None = None) -> SendSummary:
    """Take the warehouse write lock and deliver (no Prefect: what the flow and the tests call)."""
    with open_for_write(settings.warehouse.path, "legatura send", settings.warehouse.lock_timeout_seconds,
                        notify, snapshot_path=settings.warehouse.snapshot) as con:
        return deliver(con, settings, options, progress)

"""SMTP delivery with aiosmtplib: N persistent connections sharing one rate limit, each message's fate
journaled (fsynced) before that connection starts its next message.

A transaction is MAIL, RCPT, then the journal line `handed`, then DATA. So a message whose DATA never
started was never handed to the server (it goes back to the queue), and one whose DATA started but whose
answer never came (a crash, a lost connection) is `unknown`, never sent again without
`legatura send --resend-unknown`.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import aiosmtplib
from legatura.flows.config import Settings
from legatura.flows.journal import SendJournal
from legatura.transforms.delivery import UNKNOWN_CONNECTION_LOST, outcome, smtp_reply_text, temporary_failure
from legatura.transforms.errors import LegaturaError

CONNECTION_ERRORS = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError,
                     ConnectionError, OSError, asyncio.TimeoutError)


class SmtpUnavailable(LegaturaError):
    """The SMTP server cannot be reached or refuses us; nothing more is handed to it this run."""


@dataclass
class EmailJob:
    message_id: str
    attempt: int
    address: str          # the checked envelope recipient
    payload: bytes


class RateLimit:
    """A shared pace: at most `per_second` acquisitions per second over any stretch (0: unlimited)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second and per_second > 0 else 0.0
        self._next = 0.0

    async def acquire(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def _smtp_client(settings: Settings) -> aiosmtplib.SMTP:
    smtp = settings.smtp
    security = smtp.security.strip().lower()
    if security not in ("none", "starttls", "tls"):
        raise SmtpUnavailable(f"smtp.security {smtp.security!r} is not one of none, starttls, tls")
    return aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, timeout=smtp.timeout_seconds,
        use_tls=security == "tls", start_tls=security == "starttls", cert_bundle=smtp.tls_ca_file or None,
        username=smtp.username or None, password=smtp.password.get_secret_value() or None if smtp.username else None)


async def connect(settings: Settings, tries: int, wait_seconds: float) -> aiosmtplib.SMTP:
    """An open connection (TLS and AUTH as configured), trying `tries` times with growing waits."""
    last: Exception | None = None
    for attempt in range(1, tries + 1):
        client = _smtp_client(settings)
        try:
            await client.connect()
            return client
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SmtpUnavailable(f"SMTP server {settings.smtp.host}:{settings.smtp.port} refused the login of "
                                  f"{settings.smtp.username!r} ({exc.code} {smtp_reply_text(exc.message)}); check "
                                  "smtp.username and env LEGATURA_SMTP__PASSWORD") from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            last = exc
            if attempt < tries:
                await asyncio.sleep(wait_seconds * 2 ** (attempt - 1))
    reason = smtp_reply_text(str(last)) or type(last).__name__
    raise SmtpUnavailable(f"SMTP server {settings.smtp.host}:{settings.smtp.port} cannot be reached after "
                          f"{tries} tries ({reason})")


class SmtpSender:
    """Runs the connections over a queue of EmailJob; every outcome goes to `record` (journal + buffer)."""

    def __init__(self, settings: Settings, journal: SendJournal, record: Callable[[dict], Awaitable[None]],
                 envelope_from: str):
        self.settings = settings
        self.journal = journal
        self.record = record
        self.envelope_from = envelope_from
        self.limit = RateLimit(settings.smtp.rate_per_second)
        self.queue: asyncio.Queue[EmailJob | None] = asyncio.Queue(maxsize=max(64, settings.smtp.concurrency * 32))
        self.alive = 0
        self.lost: str | None = None    # why the last connection gave up, when every connection did

    async def run(self, first: aiosmtplib.SMTP) -> list[asyncio.Task]:
        count = max(1, self.settings.smtp.concurrency)
        self.alive = count
        return [asyncio.create_task(self._connection(first if n == 0 else None)) for n in range(count)]

    async def _connection(self, client: aiosmtplib.SMTP | None) -> None:
        smtp = self.settings.smtp
        try:
            while True:
                job = await self.queue.get()
                try:
                    if job is None:
                        return
                    if client is None or not client.is_connected:
                        try:
                            client = await connect(self.settings, smtp.connect_tries, smtp.connect_wait_seconds)
                        except SmtpUnavailable as exc:
                            self.lost = str(exc)
                            await self.record(outcome(job.message_id, job.attempt, "email", job.address,
                                                      "requeued", _now()))
                            return
                    await self.limit.acquire()
                    client = await self._transaction(client, job)
                finally:
                    self.queue.task_done()
        finally:
            self.alive -= 1
            if client is not None and client.is_connected:
                try:
                    await asyncio.wait_for(client.quit(), 2)
                except Exception:  # noqa: BLE001 - closing politely is best effort
                    client.close()
            if self.alive == 0:
                await self._drain()

    async def _drain(self) -> None:
        """No connection is left: whatever is still queued was never handed over and goes back."""
        while not self.queue.empty():
            job = self.queue.get_nowait()
            if job is not None:
                await self.record(outcome(job.message_id, job.attempt, "email", job.address, "requeued", _now()))
            self.queue.task_done()

    async def _transaction(self, client: aiosmtplib.SMTP, job: EmailJob) -> aiosmtplib.SMTP | None:
        smtp = self.settings.smtp
        handed = False
        try:
            await client.mail(self.envelope_from)
            await client.rcpt(job.address)
            await self.journal.write({"m": job.message_id, "a": job.attempt, "e": "handed"})
            handed = True
            reply = await client.data(job.payload)
        except aiosmtplib.SMTPResponseException as exc:
            code, text = exc.code, smtp_reply_text(exc.message)
            now = _now()
            if 500 <= code < 600 and isinstance(exc, aiosmtplib.SMTPRecipientRefused):
                result = outcome(job.message_id, job.attempt, "email", job.address, "bounced", now, code=code,
                                 text=text, error=f"bounced: {code} {text}")
            elif 500 <= code < 600:
                result = outcome(job.message_id, job.attempt, "email", job.address, "failed", now, code=code,
                                 text=text, error=f"refused: {code} {text}")
            else:
                result = temporary_failure(job.message_id, job.attempt, "email", job.address, now, code=code,
                                           text=text, max_attempts=smtp.max_attempts,
                                           base_seconds=smtp.retry_base_seconds)
            await self.record(result)
            if client.is_connected:
                try:
                    await client.rset()
                except CONNECTION_ERRORS + (aiosmtplib.SMTPException,):
                    client.close()
            return client
        except CONNECTION_ERRORS as exc:
            client.close()
            now = _now()
            text = smtp_reply_text(str(exc)) or type(exc).__name__
            if handed:
                result = outcome(job.message_id, job.attempt, "email", job.address, "unknown", now, text=text,
                                 error=f"{UNKNOWN_CONNECTION_LOST} ({text})")
            else:
                result = temporary_failure(job.message_id, job.attempt, "email", job.address, now, code=None,
                                           text=f"connection failed: {text}", max_attempts=smtp.max_attempts,
                                           base_seconds=smtp.retry_base_seconds)
            await self.record(result)
            return None
        await self.record(outcome(job.message_id, job.attempt, "email", job.address, "sent", _now(),
                                  code=reply.code, text=smtp_reply_text(reply.message)))
        return client


def _now() -> datetime:
    return datetime.now(timezone.utc)

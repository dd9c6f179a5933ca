"""SMS through a Twilio-compatible Messages API (POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json,
form-encoded To / From / Body, basic auth sid:token) with httpx: the same at-most-once state machine as
email (claim -> journal `handed` -> POST -> journal the outcome -> batched warehouse write), the shared
rate limit, retries on 5xx and 429 with backoff that honours Retry-After, segments counted and billed.

A number that sent STOP is opted out on sms: suppress_queued stops every marketing SMS (and transactional
ones to that number) before it is claimed.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

import httpx
import phonenumbers
from legatura.flows import outbox
from legatura.flows.config import Settings
from legatura.flows.journal import SendJournal
from legatura.flows.smtp_send import RateLimit
from legatura.transforms.delivery import outcome, sms_segments, smtp_reply_text, temporary_failure
from legatura.transforms.errors import LegaturaError

WAIT_FOR_RETRY_SECONDS = 10     # a retry due this soon is waited for in the same run
CONCURRENCY = 4


class SmsGatewayMissing(LegaturaError):
    """SMS are due but no gateway is configured."""


def checked_number(value: str | None) -> str:
    """An E.164 number the gateway can take; ValueError with the reason otherwise."""
    if not value or not value.strip().startswith("+"):
        raise ValueError(f"number {value!r} is not in E.164 form (+40722123456)")
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"number {value!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"number {value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def retry_after(response: httpx.Response, now: datetime) -> datetime | None:
    """The time a 429 / 503 asks us to wait until (Retry-After: seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def send_sms(con, settings: Settings, options, journal: SendJournal, summary, progress) -> None:
    """Deliver the due SMS (see the module docstring); a missing gateway leaves them queued with a note."""
    sms = settings.sms
    if not (sms.base_url and sms.account_sid and sms.from_number and sms.token.get_secret_value()):
        left = outbox.count_due(con, "sms", datetime.now(timezone.utc), options.campaign)
        summary.notes.append(f"{left} SMS stay queued: no gateway configured (sms.base_url, sms.account_sid, "
                             "sms.from_number, env LEGATURA_SMS__TOKEN)")
        return
    asyncio.run(_send_all(con, settings, options, journal, summary, progress))


async def _send_all(con, settings: Settings, options, journal: SendJournal, summary, progress) -> None:
    sms = settings.sms
    url = f"{sms.base_url.rstrip('/')}/2010-04-01/Accounts/{sms.account_sid}/Messages.json"
    limit = RateLimit(sms.rate_per_second)
    gate = asyncio.Semaphore(CONCURRENCY)
    claimed = 0
    prices: list[Decimal] = []

    async def record(row: dict) -> None:
        await journal.write(outbox.journal_line(row))
        summary.tally("sms", row["outcome"])
        if row["outcome"] == "sent":
            summary.sms_segments += row["sms_segments"] or 0
            if row["sms_price"]:
                try:
                    prices.append(abs(Decimal(row["sms_price"].split()[0])))
                except (InvalidOperation, IndexError):
                    pass
        if progress:
            progress(row["outcome"], 1)
        done.append(row)

    async with httpx.AsyncClient(auth=(sms.account_sid, sms.token.get_secret_value()),
                                 timeout=sms.timeout_seconds) as client:
        while True:
            want = settings.smtp.batch_size if options.limit is None else options.limit - claimed
            rows = outbox.claim(con, "sms", want, options.campaign, "")
            if not rows:
                wait = _soonest_retry(con, options.campaign)
                if wait is None or wait > WAIT_FOR_RETRY_SECONDS:
                    break
                await asyncio.sleep(max(0.0, wait))
                continue
            claimed += len(rows)
            done: list[dict] = []

            async def one(row: dict) -> None:
                async with gate:
                    await limit.acquire()
                    await record(await _post(client, url, settings, journal, row))

            await asyncio.gather(*(one(r) for r in rows))
            outbox.apply_outcomes(con, done)
    unit = sms.price_per_segment.split()[1] if len(sms.price_per_segment.split()) > 1 else ""
    if prices:
        summary.sms_cost = f"cost {sum(prices)} (as the gateway reported)"
    elif sms.price_per_segment and summary.sms_segments:
        summary.sms_cost = f"cost {Decimal(sms.price_per_segment.split()[0]) * summary.sms_segments} {unit}".strip()


def _soonest_retry(con, campaign: str | None) -> float | None:
    row = con.execute("SELECT min(next_attempt_at) FROM messages WHERE status = 'queued' AND channel = 'sms' "
                      "AND next_attempt_at IS NOT NULL AND ($campaign IS NULL OR campaign = $campaign)",
                      {"campaign": campaign}).fetchall()[0][0]
    return None if row is None else (row - datetime.now(timezone.utc)).total_seconds()


async def _post(client: httpx.AsyncClient, url: str, settings: Settings, journal: SendJournal, row: dict) -> dict:
    sms = settings.sms
    message_id, attempt, number = row["message_id"], row["attempts"], row["address"]
    now = datetime.now(timezone.utc)
    try:
        to = checked_number(number)
    except ValueError as exc:
        return outcome(message_id, attempt, "sms", number, "failed", now, error=f"refused before sending: {exc}")
    body = row["body_text"] or ""
    segments = row.get("sms_segments") or sms_segments(body)
    await journal.write({"m": message_id, "a": attempt, "e": "handed"})
    started = time.monotonic()
    try:
        response = await client.post(url, data={"To": to, "From": sms.from_number, "Body": body})
    except httpx.ConnectError as exc:
        # the request never reached the gateway
        return temporary_failure(message_id, attempt, "sms", number, datetime.now(timezone.utc), code=None,
                                 text=f"gateway unreachable: {smtp_reply_text(str(exc)) or type(exc).__name__}",
                                 max_attempts=sms.max_attempts, base_seconds=sms.retry_base_seconds)
    except httpx.HTTPError as exc:
        return outcome(message_id, attempt, "sms", number, "unknown", datetime.now(timezone.utc),
                       error=f"unknown: the gateway did not answer after {time.monotonic() - started:.0f} s "
                             f"({type(exc).__name__}); it may have sent the SMS (`legatura send --resend-unknown` "
                             "sends it again)")
    now = datetime.now(timezone.utc)
    text = smtp_reply_text(response.text[:300])
    if response.status_code in (200, 201):
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        billed = int(answer.get("num_segments") or segments)
        price = answer.get("price")
        price = f"{price} {answer.get('price_unit') or ''}".strip() if price not in (None, "") else None
        return outcome(message_id, attempt, "sms", number, "sent", now, code=response.status_code,
                       text=str(answer.get("status") or "accepted"), gateway_sid=answer.get("sid"),
                       sms_segments=billed, sms_price=price)
    if response.status_code == 429 or response.status_code >= 500:
        return temporary_failure(message_id, attempt, "sms", number, now, code=response.status_code, text=text,
                                 max_attempts=sms.max_attempts, base_seconds=sms.retry_base_seconds,
                                 not_before=retry_after(response, now))
    return outcome(message_id, attempt, "sms", number, "failed", now, code=response.status_code, text=text,
                   error=f"refused by the gateway: {response.status_code} {text}")

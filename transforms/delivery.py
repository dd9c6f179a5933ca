"""What a server's answer means for a message: sent, retry later (with backoff), failed, bounced, unknown.

Pure decisions shared by the SMTP and SMS senders and by crash recovery; the flows do the I/O.
"""
from __future__ import annotations

from datetime import datetime, timedelta

UNKNOWN_PREFIX = "unknown:"
UNKNOWN_AFTER_CRASH = (
    "unknown: the sender stopped after handing the message over and before the server's answer; it may "
    "have been delivered (check, then `legatura send --resend-unknown` sends it again)")
UNKNOWN_CONNECTION_LOST = (
    "unknown: the connection was lost after the message was handed over and before the server's answer; "
    "it may have been delivered (`legatura send --resend-unknown` sends it again)")
OUTCOME_STATUS = {"sent": "sent", "bounced": "bounced", "retry": "queued", "requeued": "queued",
                  "failed": "failed", "unknown": "failed"}
OUTCOME_FIELDS = ("message_id", "attempt", "channel", "address", "outcome", "reply_code", "reply_text", "error",
                  "finished_at", "next_attempt_at", "gateway_sid", "sms_segments", "sms_price", "batch")


def backoff_seconds(attempt: int, base_seconds: float, cap_seconds: float = 6 * 3600) -> float:
    """Exponential backoff after failed attempt number `attempt` (1, 2, ...): base, 2 base, 4 base, ..."""
    return min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1)))


def outcome(message_id: str, attempt: int, channel: str, address: str | None, kind: str, now: datetime, *,
            code: int | None = None, text: str | None = None, error: str | None = None,
            retry_at: datetime | None = None, **extra) -> dict:
    """One outcome row (the shape of the journal's outcome lines and of the `outcomes` frame)."""
    row = dict.fromkeys(OUTCOME_FIELDS)
    row.update(message_id=message_id, attempt=attempt, channel=channel, address=address, outcome=kind,
               reply_code=code, reply_text=text, error=error, finished_at=now, next_attempt_at=retry_at)
    row.update(extra)
    return row


def temporary_failure(message_id: str, attempt: int, channel: str, address: str | None, now: datetime, *,
                      code: int | None, text: str, max_attempts: int, base_seconds: float,
                      not_before: datetime | None = None) -> dict:
    """A 4xx / 429 / 5xx-gateway / connection failure: retry after backoff, or failed after max_attempts."""
    said = f"{code} {text}" if code else text
    if attempt >= max_attempts:
        return outcome(message_id, attempt, channel, address, "failed", now, code=code, text=text,
                       error=f"gave up after {attempt} attempt(s): {said}")
    retry_at = now + timedelta(seconds=backoff_seconds(attempt, base_seconds))
    if not_before is not None and not_before > retry_at:
        retry_at = not_before
    return outcome(message_id, attempt, channel, address, "retry", now, code=code, text=text,
                   error=f"attempt {attempt} of {max_attempts}: {said}", retry_at=retry_at)


def smtp_reply_text(message: str | bytes | None) -> str:
    """A server's reply as one printable line (it goes into the warehouse and log lines)."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return " ".join("".join(c if c.isprintable() else " " for c in (message or "")).split())[:500]


# GSM 03.38: the basic set costs one septet a character, the extension set two; anything else is UCS-2
GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """Billed segments: GSM-7 160 septets (153 each when split), else UCS-2 70 units (67 each when split)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        septets = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)

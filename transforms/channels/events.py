"""Generic interaction events (what `legatura receive` stores from POST /events/<channel>), one JSON object per line.

An event is a JSON object; every value a string unless said otherwise:

    id            required  the sending system's own unique id of the event (the idempotency key)
    occurred_at   required  ISO 8601 time, e.g. "2026-11-20T10:15:00+02:00" (no offset: organisation.timezone)
    email, phone  at least one: who the event is with (phone in any Romanian or international format)
    full_name     optional
    direction     optional  "inbound" (default: the person reached the NGO) or "outbound"
    kind          optional  default "message" (e.g. "form_request", "call", "visit", "event_registration")
    subject, body, thread_ref, language   optional
    awaits_answer optional  true / false; default true for an inbound "message"
    channel       optional  the interaction's channel; the receiver sets it from the URL (default "event")

Other keys are kept in the landed file and ignored. The key is `events:<channel>:<id>`.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import phonenumbers
import polars as pl
from legatura.transforms.channels import QUARANTINE_SCHEMA, ParseResult
from legatura.transforms.text import EMAIL_RE, json_lines, normalise_email, normalise_phones, parse_offset_time

if TYPE_CHECKING:
    from legatura.flows.config import Settings

TEXT_FIELDS = ["id", "channel", "occurred_at", "email", "phone", "full_name", "direction", "kind",
               "subject", "body", "thread_ref", "language"]
DIRECTIONS = ("inbound", "outbound")
DEFAULT_CHANNEL = "event"
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# the ISO 8601 shapes parse_offset_time reads: date, optional time with seconds and fraction, optional offset
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$")


def detect(name: str, head: bytes) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    return (first.startswith(b"{") and b'"occurred_at"' in first and b'"id"' in first
            and b'"MessageSid"' not in first)


def event_problem(event: object) -> str | None:
    """Why this decoded JSON value is not a valid event (one sentence), or None when it is."""
    if not isinstance(event, dict):
        return "not a JSON object"
    wrong = [k for k in TEXT_FIELDS if event.get(k) is not None and not isinstance(event[k], str)]
    if wrong:
        return f"{', '.join(wrong)} must be text (a JSON string)"
    if event.get("awaits_answer") is not None and not isinstance(event["awaits_answer"], bool):
        return "awaits_answer must be true or false"
    if not (event.get("id") or "").strip():
        return "no id: every event needs the sending system's own unique id"
    occurred = (event.get("occurred_at") or "").strip()
    if not occurred:
        return "no occurred_at time"
    if not ISO_TIME.match(occurred) or not _is_time(occurred):
        return f"occurred_at '{occurred}' is not an ISO 8601 time such as 2026-11-20T10:15:00+02:00"
    email, phone = (event.get("email") or "").strip(), (event.get("phone") or "").strip()
    if not email and not phone:
        return "neither email nor phone: the event must say who it is with"
    if email and not re.match(EMAIL_RE, email.lower()):
        return f"email '{email}' is not a valid address"
    if phone and not _is_phone(phone):
        return f"phone '{phone}' is not a phone number"
    direction = event.get("direction")
    if direction is not None and direction.strip().lower() not in DIRECTIONS:
        return f"direction '{direction}' must be inbound or outbound"
    channel = event.get("channel")
    if channel is not None and not CHANNEL_NAME.match(channel):
        return f"channel '{channel}' must be lower-case letters, digits or _ (at most 32)"
    return None


def _is_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_phone(value: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(value, "RO"))
    except phonenumbers.NumberParseException:
        return False


def _read_lines(raw: bytes) -> tuple[list[dict], list[dict], int]:
    """Valid events as records of strings; a quarantine row (with its line number) for every other line."""
    records, rejected = [], []
    lines = json_lines(raw)
    for line in lines:
        problem = line.error or event_problem(line.value)
        if problem:
            rejected.append({"record_no": line.record_no, "line_or_key": str(line.line), "raw": line.text, "reason": problem})
            continue
        record = {k: (line.value.get(k) or "").strip() or None for k in TEXT_FIELDS}
        records.append({"record_no": line.record_no, "source_line": str(line.line), **record,
                        "awaits": line.value.get("awaits_answer")})
    return records, rejected, len(lines)


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    records, rejected, read = _read_lines(raw)
    frame = pl.DataFrame(records, schema={"record_no": pl.Int64, "source_line": pl.String,
                                          **{k: pl.String for k in TEXT_FIELDS}, "awaits": pl.Boolean})
    frame = frame.with_columns(
        channel=pl.col("channel").fill_null(DEFAULT_CHANNEL),
        direction=pl.col("direction").str.to_lowercase().fill_null("inbound"),
        kind=pl.col("kind").fill_null("message"),
        email=normalise_email(pl.col("email")),
        phone=normalise_phones(frame.get_column("phone")),
        occurred_at=parse_offset_time(pl.col("occurred_at"), settings.organisation.timezone),
    )
    interactions = frame.select(
        "record_no", "source_line", "channel", "direction", "kind", "occurred_at", "subject", "body",
        "thread_ref", "email", "phone", "full_name", "language",
        interaction_id=pl.format("events:{}:{}", pl.col("channel"), pl.col("id")),
        external_id=pl.col("id"),
        awaits_answer=pl.col("awaits").fill_null((pl.col("direction") == "inbound") & (pl.col("kind") == "message")),
        address=pl.coalesce("email", "phone"),
    )
    return ParseResult(
        channel="events",
        records_read=read,
        frames={"interactions": interactions},
        quarantine=pl.DataFrame(rejected, schema=QUARANTINE_SCHEMA),
    )

"""Eventbrite attendee report CSV: a registration per ticket, a check-in where checked in, a cancellation.

Decisions (the export has no time for a check-in or a cancellation):
- every ticket row is a registration at its Order Date: the order happened even when it was later
  cancelled; `Not Attending` adds an `event_cancelled` row (keyed `:cancelled`) at the same time, so a
  later download that shows a cancellation adds it to the history instead of being a duplicate;
- a check-in is placed at the event's latest Order Date in the file, or the ticket's own if later:
  the closest lower bound of the event date the export gives (tickets sell until the doors open).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    decode_text,
    normalise_email,
    normalise_phones,
    parse_offset_time,
    raw_lines,
    read_csv_text,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

REQUIRED = ["Order Date", "Attendee #", "Email", "Event Name", "Attendee Status", "Checked In"]
INTERACTION = ["record_no", "source_line", "interaction_id", "kind", "occurred_at", "body",
               "email", "phone", "full_name"]


class NotAnEventbriteExport(Exception):
    """The file lacks the columns of an Eventbrite attendee report."""


def detect(name: str, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return b"Attendee #" in first and b"Order Date" in first


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    text, _ = decode_text(raw)
    rows, lines = read_csv_text(text, source)
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise NotAnEventbriteExport(f"{source}: not an Eventbrite attendee report, missing columns {missing}")
    col = lambda name: pl.col(name) if name in rows.columns else pl.lit(None, pl.String)  # noqa: E731
    cell = lambda name: col(name).str.strip_chars().replace("", None)  # noqa: E731
    phones = normalise_phones(rows.get_column("Cell Phone")) if "Cell Phone" in rows.columns else None
    frame = rows.with_row_index("record_no").with_columns(
        record_no=pl.col("record_no").cast(pl.Int64),
        source_line=pl.Series(lines).cast(pl.String),
        raw=raw_lines(rows),
        attendee=cell("Attendee #"),
        ordered_at=parse_offset_time(pl.col("Order Date"), settings.organisation.timezone),
        email=normalise_email(col("Email")),
        phone=phones if phones is not None else pl.lit(None, pl.String),
        full_name=pl.concat_str([cell("First Name"), cell("Last Name")], separator=" ", ignore_nulls=True)
        .replace("", None),
        event=cell("Event Name"),
        event_key=pl.coalesce(cell("Event ID"), cell("Event Name"), pl.lit("")),
        cancelled=pl.col("Attendee Status").str.strip_chars().str.to_lowercase() == "not attending",
        checked_in=(col("Checked In").str.strip_chars().str.to_lowercase() == "yes")
        | (pl.col("Attendee Status").str.strip_chars().str.to_lowercase() == "checked in"),
    )
    reason = (
        pl.when(pl.col("attendee").is_null()).then(pl.lit("empty Attendee #"))
        .when(pl.col("ordered_at").is_null()).then(
            pl.format("Order Date '{}' is not YYYY-MM-DD HH:MM:SS+HH:MM", pl.col("Order Date")))
        .when(pl.col("email").is_not_null() & ~valid_email(pl.col("email"))).then(
            pl.format("Email '{}' is not a valid address", pl.col("Email")))
        .when(cell("Cell Phone").is_not_null() & pl.col("phone").is_null()).then(
            pl.format("Cell Phone '{}' is not a phone number", col("Cell Phone")))
        .when(pl.col("email").is_null() & pl.col("phone").is_null()).then(
            pl.lit("no email or phone: cannot tell who the attendee is"))
    )
    frame = frame.with_columns(reason=reason)
    good = frame.filter(pl.col("reason").is_null()).with_columns(
        checked_in_at=pl.max_horizontal(pl.col("ordered_at"), pl.col("ordered_at").max().over("event_key")))

    ticket = pl.col("Ticket Type").str.strip_chars() if "Ticket Type" in rows.columns else pl.lit("ticket")
    registrations = good.select(
        *INTERACTION[:2],
        interaction_id=pl.format("eventbrite:{}:registration", pl.col("attendee")),
        kind=pl.lit("event_registration"), occurred_at=pl.col("ordered_at"),
        body=pl.format("{} ticket, order {}", ticket.fill_null(""), col("Order #").fill_null("")),
        email=pl.col("email"), phone=pl.col("phone"), full_name=pl.col("full_name"),
        subject=pl.col("event"), external_id=pl.col("attendee"),
    )
    cancellations = good.filter(pl.col("cancelled")).select(
        *INTERACTION[:2],
        interaction_id=pl.format("eventbrite:{}:cancelled", pl.col("attendee")),
        kind=pl.lit("event_cancelled"), occurred_at=pl.col("ordered_at"),
        body=pl.lit("Not Attending (refunded or cancelled; the export gives no cancellation time)"),
        email=pl.col("email"), phone=pl.col("phone"), full_name=pl.col("full_name"),
        subject=pl.col("event"), external_id=pl.col("attendee"),
    )
    checkins = good.filter(pl.col("checked_in")).select(
        *INTERACTION[:2],
        interaction_id=pl.format("eventbrite:{}:checkin", pl.col("attendee")),
        kind=pl.lit("event_checkin"), occurred_at=pl.col("checked_in_at"),
        body=pl.lit("checked in (the export gives no check-in time)"),
        email=pl.col("email"), phone=pl.col("phone"), full_name=pl.col("full_name"),
        subject=pl.col("event"), external_id=pl.col("attendee"),
    )
    interactions = pl.concat([registrations, cancellations, checkins]).with_columns(
        channel=pl.lit("event"), direction=pl.lit("inbound"), campaign=pl.col("subject"),
        awaits_answer=pl.lit(False), address=pl.col("email"),
    ).sort("record_no", maintain_order=True)
    quarantine = frame.filter(pl.col("reason").is_not_null()).select(
        line_or_key="source_line", reason="reason", raw="raw")
    return ParseResult(
        channel="eventbrite",
        records_read=rows.height,
        frames={"interactions": interactions},
        quarantine=quarantine,
    )

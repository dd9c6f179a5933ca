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
    normalise_email,
    normalise_phones,
    parse_offset_time,
    quarantined,
    read_export,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

REQUIRED = ["Order Date", "Attendee #", "Email", "Event Name", "Attendee Status", "Checked In"]


class NotAnEventbriteExport(Exception):
    """The file lacks the columns of an Eventbrite attendee report."""


def detect(name: str, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return b"Attendee #" in first and b"Order Date" in first


def _interactions(tickets: pl.DataFrame, what: str, kind: str, occurred_at: str, body: pl.Expr) -> pl.DataFrame:
    """One interaction per ticket row: its registration, cancellation or check-in."""
    return tickets.select(
        "record_no", "source_line", "email", "phone", "full_name",
        interaction_id=pl.format("eventbrite:{}:{}", pl.col("attendee"), pl.lit(what)),
        kind=pl.lit(kind), occurred_at=pl.col(occurred_at), body=body,
        subject=pl.col("event"), external_id=pl.col("attendee"),
    )


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, columns, delimiter = read_export(raw, source)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise NotAnEventbriteExport(f"{source}: not an Eventbrite attendee report, missing columns {missing}")
    col = lambda name: pl.col(name) if name in columns else pl.lit(None, pl.String)  # noqa: E731
    cell = lambda name: col(name).str.strip_chars().replace("", None)  # noqa: E731
    shown = lambda name: col(name).fill_null("")  # noqa: E731  (a null in pl.format nulls the whole reason)
    phones = normalise_phones(rows.get_column("Cell Phone")) if "Cell Phone" in columns else None
    frame = rows.with_columns(
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
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("attendee").is_null()).then(pl.lit("empty Attendee #"))
        .when(pl.col("ordered_at").is_null()).then(
            pl.format("Order Date '{}' is not YYYY-MM-DD HH:MM:SS+HH:MM", shown("Order Date")))
        .when(pl.col("email").is_not_null() & ~valid_email(pl.col("email"))).then(
            pl.format("Email '{}' is not a valid address", shown("Email")))
        .when(cell("Cell Phone").is_not_null() & pl.col("phone").is_null()).then(
            pl.format("Cell Phone '{}' is not a phone number", shown("Cell Phone")))
        .when(pl.col("email").is_null() & pl.col("phone").is_null()).then(
            pl.lit("no email or phone: cannot tell who the attendee is"))
    )
    frame = frame.with_columns(reason=reason)
    good = frame.filter(pl.col("reason").is_null()).with_columns(
        checked_in_at=pl.max_horizontal(pl.col("ordered_at"), pl.col("ordered_at").max().over("event_key")))

    ticket = pl.col("Ticket Type").str.strip_chars() if "Ticket Type" in columns else pl.lit("ticket")
    interactions = pl.concat([
        _interactions(good, "registration", "event_registration", "ordered_at",
                      pl.format("{} ticket, order {}", ticket.fill_null(""), shown("Order #"))),
        _interactions(good.filter(pl.col("cancelled")), "cancelled", "event_cancelled", "ordered_at",
                      pl.lit("Not Attending (refunded or cancelled; the export gives no cancellation time)")),
        _interactions(good.filter(pl.col("checked_in")), "checkin", "event_checkin", "checked_in_at",
                      pl.lit("checked in (the export gives no check-in time)")),
    ]).with_columns(
        channel=pl.lit("event"), direction=pl.lit("inbound"), campaign=pl.col("subject"),
        awaits_answer=pl.lit(False), address=pl.col("email"),
    ).sort("record_no", maintain_order=True)
    return ParseResult(
        channel="eventbrite",
        records_read=rows.height,
        frames={"interactions": interactions},
        quarantine=quarantined(frame.filter(pl.col("reason").is_not_null()), columns, delimiter),
    )

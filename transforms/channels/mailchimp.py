"""Mailchimp audience export CSVs (subscribed / unsubscribed / cleaned members): contacts, tags, email consent.

Which of the three files it is follows from its columns (UNSUB_TIME, CLEAN_TIME), else from its name.
Times are UTC. Every member is a contact with tags; then
  * subscribed: opted_in at CONFIRM_TIME (double opt-in) or else OPTIN_TIME, or else LAST_CHANGED;
  * unsubscribed: opted_out at UNSUB_TIME, after the opted_in of its CONFIRM_TIME / OPTIN_TIME (history);
  * cleaned (hard bounce): a suppression of the address at CLEAN_TIME, no consent event.
Exports are snapshots: a member repeated unchanged gives the same consent event (channel, address, status,
time, source), which the loader counts as a duplicate.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    normalise_email,
    normalise_phones,
    parse_utc_time,
    quarantined,
    read_export,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
NAME_RE = re.compile(r"(subscribed|unsubscribed|cleaned)_members_export", re.IGNORECASE)
SOURCE = "mailchimp"


class NotAMailchimpExport(Exception):
    """The file lacks the columns of a Mailchimp audience export."""


def detect(name: str, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    if b"Email Address" not in first:
        return False
    return (b"MEMBER_RATING" in first and b"OPTIN_TIME" in first) or bool(NAME_RE.search(name))


def member_status(columns: list[str], source: str) -> str:
    """'subscribed' | 'unsubscribed' | 'cleaned': the file's columns decide, else its name."""
    if "UNSUB_TIME" in columns:
        return "unsubscribed"
    if "CLEAN_TIME" in columns:
        return "cleaned"
    found = NAME_RE.search(source.rsplit("/", 1)[-1])
    return found.group(1).lower() if found else "subscribed"


def parse_tags(col: pl.Expr) -> pl.Expr:
    """TAGS `"Donator","Newsletter"` (or a plain `Donator, Newsletter`) to a list of tag names."""
    quoted = col.str.extract_all(r'"[^"]*"').list.eval(pl.element().str.strip_chars('"').str.strip_chars())
    plain = col.str.split(",").list.eval(pl.element().str.strip_chars())
    tags = pl.when(col.str.contains('"')).then(quoted).otherwise(plain)
    return tags.list.eval(pl.element().filter(pl.element().str.len_chars() > 0)).fill_null([])


def postal_lines(col: pl.Expr) -> pl.Expr:
    """Mailchimp's Address field (street, city, region, zip, country joined by two spaces) as lines."""
    parts = col.str.strip_chars().str.split("  ").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.len_chars() > 0))
    return parts.list.join("\n").replace("", None)


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, columns, delimiter = read_export(raw, source)
    if "Email Address" not in columns:
        raise NotAMailchimpExport(f"{source}: not a Mailchimp audience export, no 'Email Address' column")
    status = member_status(columns, source)
    col = lambda name: pl.col(name) if name in columns else pl.lit(None, pl.String)  # noqa: E731
    shown = lambda name: col(name).fill_null("")  # noqa: E731  (a null in pl.format nulls the whole reason)
    time = lambda name: parse_utc_time(col(name).replace("", None), TIME_FORMAT)  # noqa: E731
    name_part = lambda name: col(name).str.strip_chars().replace("", None)  # noqa: E731
    phones = (rows.get_column("Phone Number") if "Phone Number" in columns
              else pl.Series([None] * rows.height, dtype=pl.String))

    frame = rows.with_columns(
        email=normalise_email(pl.col("Email Address")),
        full_name=pl.concat_str([name_part("First Name"), name_part("Last Name")], separator=" ", ignore_nulls=True)
        .replace("", None),
        phone=normalise_phones(phones),
        tags=parse_tags(col("TAGS")),
        postal_address=postal_lines(col("Address")),
        opted_in_at=pl.coalesce(time("CONFIRM_TIME"), time("OPTIN_TIME")),
        changed_at=time("LAST_CHANGED"),
        unsub_at=time("UNSUB_TIME"),
        clean_at=time("CLEAN_TIME"),
    )
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("email").is_null()).then(pl.lit("no Email Address"))
        .when(~valid_email(pl.col("email"))).then(pl.format("Email Address '{}' is not a valid address",
                                                            shown("Email Address")))
    )
    if status == "unsubscribed":
        reason = reason.when(pl.col("unsub_at").is_null()).then(pl.format(
            "UNSUB_TIME '{}' is not YYYY-MM-DD HH:MM:SS: cannot order the opt-out", shown("UNSUB_TIME")))
    if status == "cleaned":
        reason = reason.when(pl.col("clean_at").is_null()).then(pl.format(
            "CLEAN_TIME '{}' is not YYYY-MM-DD HH:MM:SS", shown("CLEAN_TIME")))
    frame = frame.with_columns(reason=reason)
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null())

    contacts = good.select("record_no", "email", "full_name", "phone", "tags", "postal_address")
    consent = lambda rows_, state, at: rows_.filter(at.is_not_null()).select(  # noqa: E731
        "record_no", "email", "full_name", "phone",
        channel=pl.lit("email"), address=pl.col("email"), status=pl.lit(state), recorded_at=at,
        source=pl.lit(SOURCE))
    frames: dict[str, pl.DataFrame] = {"contacts": contacts}
    if status == "subscribed":
        frames["consents"] = consent(good, "opted_in", pl.coalesce("opted_in_at", "changed_at"))
    elif status == "unsubscribed":
        frames["consents"] = pl.concat([consent(good, "opted_in", pl.col("opted_in_at")),
                                        consent(good, "opted_out", pl.col("unsub_at"))])
    else:
        frames["suppressions"] = good.select(
            "record_no", channel=pl.lit("email"), address=pl.col("email"), reason=pl.lit("cleaned"),
            recorded_at=pl.col("clean_at"), source=pl.lit(SOURCE))
    return ParseResult(
        channel="mailchimp",
        records_read=rows.height,
        frames=frames,
        quarantine=quarantined(bad, columns, delimiter),
    )

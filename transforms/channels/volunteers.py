"""Volunteer hours sheet (English Google Sheet or Romanian Excel CSV): shifts plus an interaction per shift.

A sheet has no id column: a shift is keyed by a hash of its normalised date, email, phone, hours and
activity, so the Windows-1250 and UTF-8 saves of one sheet, or a sheet downloaded again, add nothing twice.
A row holds a date only: the shift starts at local midnight of that date.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    decode_text,
    fold_header,
    normalise_email,
    normalise_phones,
    parse_number,
    quarantined,
    read_export,
    row_hash,
    sniff_delimiter,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

# folded header -> field; Romanian headers are those of the coordinators' Excel sheet
HEADERS = {
    "date": "date", "data": "date",
    "email": "email", "e-mail": "email", "adresa de email": "email",
    "phone": "phone", "telefon": "phone",
    "name": "name", "nume și prenume": "name", "nume si prenume": "name", "nume": "name",
    "hours": "hours", "ore": "hours",
    "activity": "activity", "activitate": "activity",
}
ROMANIAN = {"data", "e-mail", "telefon", "nume și prenume", "nume si prenume", "nume", "ore", "activitate"}
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")


class NotAVolunteerSheet(Exception):
    """The file lacks the date and hours columns (and an email or phone column) of a volunteer sheet."""


def _fields(header: list[str]) -> dict[str, str]:
    """Original header -> field, for the headers this preset knows."""
    return {h: HEADERS[fold_header(h)] for h in header if fold_header(h) in HEADERS}


def detect(name: str, head: bytes) -> bool:
    text, _ = decode_text(head.split(b"\n", 1)[0])
    fields = set(_fields([h.strip('"') for h in text.strip().split(sniff_delimiter(text))]).values())
    return {"date", "hours"} <= fields and bool({"email", "phone"} & fields)


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, columns, delimiter = read_export(raw, source)
    fields = _fields(columns)
    found = set(fields.values())
    if not ({"date", "hours"} <= found and {"email", "phone"} & found):
        raise NotAVolunteerSheet(
            f"{source}: not a volunteer hours sheet: need columns date,email,phone,name,hours,activity "
            f"or Data;E-mail;Telefon;Nume și prenume;Ore;Activitate, found {columns}")
    decimal_comma = delimiter == ";" or any(fold_header(h) in ROMANIAN for h in fields)
    by_field = {f: h for h, f in reversed(list(fields.items()))}   # the first column of each field
    # the sheet's own cells as given_<field>, apart from the parsed values
    given = rows.select("record_no", "source_line", "ragged",
                        *[pl.col(by_field[f]).alias(f"given_{f}") if f in by_field else
                          pl.lit(None, pl.String).alias(f"given_{f}") for f in set(HEADERS.values())])
    col = lambda f: pl.col(f"given_{f}")  # noqa: E731
    phones = normalise_phones(given.get_column("given_phone"))
    day = col("date").str.strip_chars()
    frame = given.with_columns(
        day=pl.coalesce([day.str.strptime(pl.Date, f, strict=False) for f in DATE_FORMATS]),
        email=normalise_email(col("email")),
        phone=phones,
        phone_given=col("phone").str.strip_chars().fill_null("") != "",
        full_name=col("name").str.strip_chars().replace("", None),
        hours=parse_number(col("hours"), decimal_comma),
        activity=col("activity").str.strip_chars().str.normalize("NFC").replace("", None),
    )
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("day").is_null()).then(
            pl.format("date '{}' is not a valid date (YYYY-MM-DD or DD.MM.YYYY)", col("date").fill_null("")))
        .when(pl.col("email").is_null() & ~pl.col("phone_given")).then(
            pl.lit("no email or phone: cannot tell who volunteered"))
        .when(pl.col("email").is_not_null() & ~valid_email(pl.col("email"))).then(
            pl.format("email '{}' is not a valid address", col("email")))
        .when(pl.col("phone_given") & pl.col("phone").is_null()).then(
            pl.format("phone '{}' is not a phone number", col("phone")))
        .when(pl.col("hours").is_null()).then(pl.format("hours '{}' is not a number", col("hours").fill_null("")))
        .when((pl.col("hours") <= 0) | (pl.col("hours") > 24)).then(
            pl.format("hours '{}' must be more than 0 and at most 24", col("hours")))
    )
    frame = frame.with_columns(reason=reason)
    good = frame.filter(pl.col("reason").is_null()).with_columns(
        started_at=pl.col("day").cast(pl.Datetime("us"))
        .dt.replace_time_zone(settings.organisation.timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC"),
        day_text=pl.col("day").cast(pl.String),
        hours_text=pl.col("hours").cast(pl.String),
    )
    good = good.with_columns(
        shift_id=row_hash(good, ["day_text", "email", "phone", "hours_text", "activity"], "volunteers:"))

    party = ["email", "phone", "full_name"]
    shifts = good.select("record_no", "source_line", "shift_id", "started_at", "hours", "activity", *party)
    interactions = good.select(
        "record_no", "source_line", *party,
        interaction_id=pl.col("shift_id"),
        channel=pl.lit("volunteer"),
        direction=pl.lit("inbound"),
        kind=pl.lit("volunteer_shift"),
        occurred_at=pl.col("started_at"),
        subject=pl.col("activity"),
        body=pl.format("{} h", pl.col("hours")),
        awaits_answer=pl.lit(False),
    )
    return ParseResult(
        channel="volunteers",
        records_read=rows.height,
        frames={"shifts": shifts, "interactions": interactions},
        quarantine=quarantined(frame.filter(pl.col("reason").is_not_null()), columns, delimiter, rows),
    )

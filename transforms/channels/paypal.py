"""PayPal Activity download CSV ("Balance affecting"): gifts, refunds of gifts, donors.

Reads PayPal's own file (UTF-8 with BOM, every field quoted, `2,500.00`) and the same file after an
Excel round trip on a Romanian Windows (Windows-1250, `;`, `1.234,50`). One record is one row:
  * a donation-type row (DONATION_TYPES) with Balance Impact `Credit` and Status `Completed` is a gift,
    its donor From Email Address / Name / Contact Phone Number;
  * a donation-type credit row in another Status (Pending, Denied, ...) is no gift, but names a contact;
  * a `Payment Refund` row reduces the gift its Reference Txn ID names; its donor is To Email Address;
  * anything else (General Withdrawal, transfers, fees, ...) is read and loaded as nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    normalise_email,
    normalise_phones,
    parse_amount,
    quarantined,
    read_export,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

REQUIRED = ["Date", "Time", "TimeZone", "Type", "Gross", "Currency", "Transaction ID", "Balance Impact"]
DONATION_TYPES = [
    "donation payment", "express checkout payment", "website payment", "mobile payment", "subscription payment",
]
RECURRING_TYPES = ["subscription payment"]
REFUND_TYPES = ["payment refund"]
BALANCE_IMPACTS = ["credit", "debit", "memo"]
# the account's zone abbreviation in the TimeZone column, as hours east of UTC; others: organisation timezone
ZONE_OFFSETS = {"UTC": 0, "GMT": 0, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "PST": -8, "PDT": -7}
DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")


class NotAPaypalExport(Exception):
    """The file lacks the columns of a PayPal activity download."""


def detect(name: str, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return b"Transaction ID" in first and b"Balance Impact" in first and b"TimeZone" in first


def paypal_time(date: pl.Expr, time: pl.Expr, zone: pl.Expr, timezone: str) -> pl.Expr:
    """Date (DD/MM/YYYY) + Time + TimeZone abbreviation to a UTC instant (null when impossible)."""
    text = pl.concat_str([date.str.strip_chars(), time.str.strip_chars()], separator=" ")
    naive = pl.coalesce([text.str.strptime(pl.Datetime("us"), f, strict=False) for f in DATE_FORMATS])
    hours = zone.str.strip_chars().str.to_uppercase().replace_strict(
        ZONE_OFFSETS, default=None, return_dtype=pl.Int64)
    with_offset = (naive - pl.duration(hours=hours)).dt.replace_time_zone("UTC")
    local = (naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
             .dt.convert_time_zone("UTC"))
    return pl.when(hours.is_not_null()).then(with_offset).otherwise(local)


# the payer's postal address, when the donation form asked for it (kept for letters)
ADDRESS_COLUMNS = ["Address Line 1", "Address Line 2/District/Neighborhood", "Town/City",
                   "State/Province/Region/County/Territory/Prefecture/Republic", "Zip/Postal Code", "Country"]


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, columns, delimiter = read_export(raw, source)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise NotAPaypalExport(f"{source}: not a PayPal activity download, missing columns {missing}")
    # Excel in a Romanian locale writes `;` and decimal commas; PayPal itself writes `,` and `2,500.00`
    decimal_comma = delimiter == ";"
    col = lambda name: pl.col(name) if name in columns else pl.lit(None, pl.String)  # noqa: E731
    blank_to_null = lambda expr: expr.str.strip_chars().replace("", None)  # noqa: E731
    shown = lambda name: col(name).fill_null("")  # noqa: E731  (a null in pl.format nulls the whole reason)

    frame = rows.with_columns(
        txn_id=blank_to_null(pl.col("Transaction ID")),
        reference_id=blank_to_null(col("Reference Txn ID")),
        happened_at=paypal_time(pl.col("Date"), pl.col("Time"), pl.col("TimeZone"), settings.organisation.timezone),
        gross=parse_amount(pl.col("Gross"), decimal_comma=decimal_comma),
        currency=pl.col("Currency").str.strip_chars().str.to_uppercase(),
        kind=pl.col("Type").fill_null("").str.strip_chars().str.to_lowercase(),
        status=col("Status").fill_null("").str.strip_chars().str.to_lowercase(),
        impact=pl.col("Balance Impact").fill_null("").str.strip_chars().str.to_lowercase(),
        from_email=normalise_email(col("From Email Address")),
        to_email=normalise_email(col("To Email Address")),
        full_name=blank_to_null(col("Name")),
        phone=normalise_phones(rows.get_column("Contact Phone Number") if "Contact Phone Number" in columns
                               else pl.Series([None] * rows.height, dtype=pl.String)),
        campaign=blank_to_null(col("Item Title")),
        postal_address=pl.concat_str([blank_to_null(col(c)) for c in ADDRESS_COLUMNS], separator="\n",
                                     ignore_nulls=True).replace("", None),
    )
    frame = frame.with_columns(
        is_donation=pl.col("kind").is_in(DONATION_TYPES) & (pl.col("impact") == "credit"),
        is_refund=pl.col("kind").is_in(REFUND_TYPES),
    ).with_columns(
        is_gift=pl.col("is_donation") & (pl.col("status") == "completed"),
        # the donor: the payer of a gift, the payee of a refund
        email=pl.when(pl.col("is_refund")).then(pl.col("to_email")).otherwise(pl.col("from_email")),
    )

    is_money = pl.col("is_donation") | pl.col("is_refund")
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("txn_id").is_null()).then(pl.lit("empty Transaction ID"))
        .when(pl.col("happened_at").is_null()).then(pl.format(
            "date '{} {} {}' is not a real DD/MM/YYYY HH:MM:SS time", shown("Date"), shown("Time"),
            shown("TimeZone")))
        .when(~pl.col("impact").is_in(BALANCE_IMPACTS)).then(pl.format(
            "Balance Impact '{}' is not Credit, Debit or Memo (a row cut short?)", shown("Balance Impact")))
        .when(is_money & pl.col("gross").is_null()).then(pl.format("Gross '{}' is not a number", shown("Gross")))
        .when(pl.col("is_refund") & pl.col("reference_id").is_null()).then(
            pl.lit("Payment Refund without a Reference Txn ID: cannot tell which gift it returns"))
        .when(is_money & pl.col("email").is_not_null() & ~valid_email(pl.col("email"))).then(pl.format(
            "donor email '{}' is not a valid address", pl.coalesce(pl.col("email"), pl.lit(""))))
    )
    frame = frame.with_columns(reason=reason)
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null())

    donations = good.filter(pl.col("is_gift")).select(
        "record_no", "source_line", "email", "full_name", "phone", "currency", "campaign", "postal_address",
        donation_id=pl.lit("paypal:") + pl.col("txn_id"),
        external_id=pl.col("txn_id"),
        amount=pl.col("gross"),
        donated_at=pl.col("happened_at"),
        method=pl.lit("paypal"),
        recurring=pl.col("kind").is_in(RECURRING_TYPES),
        source=pl.lit("paypal"),
    )
    refund_rows = good.filter(pl.col("is_refund"))
    refunds = refund_rows.select(
        "record_no", "currency",
        refund_id=pl.lit("paypal:") + pl.col("txn_id"),
        donation_id=pl.lit("paypal:") + pl.col("reference_id"),
        amount=pl.col("gross").abs(),
        refunded_at=pl.col("happened_at"),
        cumulative=pl.lit(False),
    )
    # who a refund was paid to, and who tried to give when the payment did not complete
    contacts = pl.concat([
        refund_rows.select("record_no", "email", "full_name", "phone"),
        good.filter(pl.col("is_donation") & ~pl.col("is_gift")).select("record_no", "email", "full_name", "phone"),
    ]).filter(pl.col("email").is_not_null() | pl.col("phone").is_not_null())
    # withdrawals, transfers, fees: read and valid, no gift and nobody to know
    ignored = good.filter(~pl.col("is_donation") & ~pl.col("is_refund")).select(
        "record_no", record_key=pl.lit("paypal:") + pl.col("txn_id"),
        reason=pl.format("{}: not a gift", pl.col("Type").fill_null("")))
    quarantine = quarantined(bad, columns, delimiter)
    return ParseResult(
        channel="paypal",
        records_read=rows.height,
        frames={"donations": donations, "refunds": refunds, "contacts": contacts, "ignored": ignored},
        quarantine=quarantine,
    )

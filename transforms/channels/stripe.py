"""Stripe dashboard payments export ("unified payments" CSV): gifts, refunds, donors."""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    AMOUNT,
    amount_key,
    normalise_email,
    parse_amount,
    parse_utc_time,
    quarantined,
    read_export,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

REQUIRED = ["id", "Created date (UTC)", "Amount", "Currency", "Status"]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# what the same UTC times become after a re-save by Excel in a Romanian locale
TIME_FORMATS = (TIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")


def _utc_time(column: pl.Expr) -> pl.Expr:
    """Stripe's own format in one pass; the re-saved forms are tried only when some value needs them."""
    def parse_values(values: pl.Series) -> pl.Series:
        frame = values.to_frame("v")
        exact = frame.select(parse_utc_time(pl.col("v"), TIME_FORMAT)).to_series()
        if exact.null_count() == values.null_count():
            return exact
        return frame.select(pl.coalesce([parse_utc_time(pl.col("v"), fmt) for fmt in TIME_FORMATS])).to_series()

    return column.map_batches(parse_values, return_dtype=pl.Datetime("us", "UTC"))


class NotAStripeExport(Exception):
    """The file lacks the columns of a Stripe payments export."""


def detect(name: str, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return b"Created date (UTC)" in first and b"Amount Refunded" in first


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, columns, delimiter = read_export(raw, source)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise NotAStripeExport(f"{source}: not a Stripe payments export, missing columns {missing}")
    col = lambda name: pl.col(name) if name in columns else pl.lit(None, pl.String)  # noqa: E731
    cell = lambda name: col(name).str.strip_chars().replace("", None)  # noqa: E731
    shown = lambda name: col(name).fill_null("")  # noqa: E731  (a null in pl.format nulls the whole reason)
    frame = rows.with_columns(
        charge_id=cell("id"),
        created=_utc_time(pl.col("Created date (UTC)")),
        amount=parse_amount(pl.col("Amount"), decimal_comma=False),
        refunded_given=parse_amount(col("Amount Refunded"), decimal_comma=False),
        refunded_at=(_utc_time(pl.col("Refunded date (UTC)")) if "Refunded date (UTC)" in columns
                     else pl.lit(None, dtype=pl.Datetime("us", "UTC"))),
        currency=pl.col("Currency").str.strip_chars().str.to_uppercase(),
        status=pl.col("Status").str.strip_chars().str.to_lowercase(),
        email=normalise_email(col("Customer Email")),
        full_name=pl.coalesce(cell("Customer Description"), cell("Card Name")),
        recurring=col("Invoice ID").str.strip_chars().str.len_chars().fill_null(0) > 0,
        campaign=cell("campaign (metadata)"),
    ).with_columns(refunded=pl.col("refunded_given").fill_null(pl.lit(0).cast(AMOUNT)))

    # the checks run on every row; the reason text is written only for the rows that fail
    checks = [
        (pl.col("ragged").is_not_null(), pl.col("ragged")),
        (pl.col("charge_id").is_null(), pl.lit("empty charge id")),
        (pl.col("created").is_null(), pl.format("date '{}' is not YYYY-MM-DD HH:MM:SS", shown("Created date (UTC)"))),
        (~pl.col("status").is_in(["paid", "refunded", "failed"]), pl.format("unknown Status '{}'", shown("Status"))),
        ((pl.col("status") != "failed") & pl.col("amount").is_null(),
         pl.format("Amount '{}' is not a number", shown("Amount"))),
        (cell("Amount Refunded").is_not_null() & pl.col("refunded_given").is_null(),
         pl.format("Amount Refunded '{}' is not a number", shown("Amount Refunded"))),
        (pl.col("email").is_not_null() & ~valid_email(pl.col("email")),
         pl.format("Customer Email '{}' is not a valid address", shown("Customer Email"))),
    ]
    frame = frame.with_columns(failed=pl.any_horizontal([c.fill_null(True) for c, _ in checks]))
    reason = pl.when(checks[0][0].fill_null(True)).then(checks[0][1])
    for check, text in checks[1:]:
        reason = reason.when(check.fill_null(True)).then(text)
    bad = frame.filter(pl.col("failed")).with_columns(reason=reason)
    # only what the frames need is carried on (a filter copies every column it is given)
    good = frame.select("record_no", "source_line", "charge_id", "created", "amount", "refunded", "refunded_at",
                        "currency", "status", "email", "full_name", "recurring", "campaign", "failed")
    if bad.height:
        good = good.filter(~pl.col("failed"))
    attempts = good.get_column("status") == "failed"
    gifts = good.filter(~attempts) if attempts.any() else good

    donations = gifts.select(
        "record_no", "source_line", "email", "full_name", "amount", "currency", "recurring", "campaign",
        donation_id=pl.lit("stripe:") + pl.col("charge_id"),
        external_id=pl.col("charge_id"),
        donated_at=pl.col("created"),
        method=pl.lit("card"),
        source=pl.lit("stripe"),
    )
    refunds = gifts.filter(pl.col("refunded") > 0).select(
        "record_no",
        refund_id=pl.format("stripe:{}:refunded:{}", pl.col("charge_id"), amount_key(pl.col("refunded"))),
        donation_id=pl.lit("stripe:") + pl.col("charge_id"),
        amount=pl.col("refunded"),
        currency=pl.col("currency"),
        refunded_at=pl.col("refunded_at"),
        cumulative=pl.lit(True),
    )
    # a failed attempt is no gift, but the person is still a contact
    contacts = good.filter(attempts).select(
        "record_no", "email", "full_name", record_key=pl.lit("stripe:") + pl.col("charge_id"))
    quarantine = quarantined(bad, columns, delimiter)
    return ParseResult(
        channel="stripe",
        records_read=rows.height,
        frames={"donations": donations, "refunds": refunds, "contacts": contacts},
        quarantine=quarantine,
    )

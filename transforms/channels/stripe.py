"""Stripe dashboard payments export ("unified payments" CSV): gifts, refunds, donors."""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    RAGGED,
    normalise_email,
    parse_number,
    parse_utc_time,
    read_csv_bytes,
    source_lines,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

REQUIRED = ["id", "Created date (UTC)", "Amount", "Currency", "Status"]
USED = [*REQUIRED, "Amount Refunded", "Refunded date (UTC)", "Customer Email", "Customer Description", "Card Name",
        "Invoice ID", "campaign (metadata)"]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# what the same UTC times become after a re-save by Excel in a Romanian locale
TIME_FORMATS = (TIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")


def _utc_time(column: pl.Expr) -> pl.Expr:
    """Stripe's own format in one pass; the re-saved forms are tried only when some value needs them."""
    def parse(values: pl.Series) -> pl.Series:
        frame = values.to_frame("v")
        exact = frame.select(parse_utc_time(pl.col("v"), TIME_FORMAT)).to_series()
        if exact.null_count() == values.null_count():
            return exact
        return frame.select(pl.coalesce([parse_utc_time(pl.col("v"), fmt) for fmt in TIME_FORMATS])).to_series()

    return column.map_batches(parse, return_dtype=pl.Datetime("us", "UTC"))


class NotAStripeExport(Exception):
    """The file lacks the columns of a Stripe payments export."""


def detect(name: str, head: bytes) -> bool:
    first = head.split(b"\n", 1)[0]
    return b"Created date (UTC)" in first and b"Amount Refunded" in first


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, lines, _ = read_csv_bytes(raw, source, columns=USED)
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise NotAStripeExport(f"{source}: not a Stripe payments export, missing columns {missing}")
    col = lambda name: pl.col(name) if name in rows.columns else pl.lit(None, pl.String)  # noqa: E731
    frame = rows.with_row_index("record_no").with_columns(
        source_line=pl.Series(lines).cast(pl.String),
        charge_id=pl.col("id").str.strip_chars().replace("", None),
        created=_utc_time(pl.col("Created date (UTC)")),
        amount=parse_number(pl.col("Amount"), decimal_comma=False),
        refunded=parse_number(col("Amount Refunded"), decimal_comma=False).fill_null(0.0),
        refunded_at=(_utc_time(pl.col("Refunded date (UTC)")) if "Refunded date (UTC)" in rows.columns
                     else pl.lit(None, dtype=pl.Datetime("us", "UTC"))),
        currency=pl.col("Currency").str.strip_chars().str.to_uppercase(),
        status=pl.col("Status").str.strip_chars().str.to_lowercase(),
        email=normalise_email(col("Customer Email")),
        full_name=pl.coalesce(
            pl.col("Customer Description").str.strip_chars().replace("", None) if "Customer Description" in rows.columns else pl.lit(None, pl.String),
            col("Card Name").str.strip_chars().replace("", None)),
        recurring=col("Invoice ID").str.strip_chars().str.len_chars().fill_null(0) > 0,
        campaign=col("campaign (metadata)").str.strip_chars().replace("", None),
    ).with_columns(record_no=pl.col("record_no").cast(pl.Int64))

    # the checks run on every row; the reason text is written only for the rows that fail
    checks = [
        (pl.col("charge_id").is_null(), pl.lit("empty charge id")),
        (pl.col("created").is_null(), pl.format("date '{}' is not YYYY-MM-DD HH:MM:SS", pl.col("Created date (UTC)").fill_null(""))),
        (~pl.col("status").is_in(["paid", "refunded", "failed"]), pl.format("unknown Status '{}'", pl.col("Status").fill_null(""))),
        ((pl.col("status") != "failed") & pl.col("amount").is_null(),
         pl.format("Amount '{}' is not a number", pl.col("Amount").fill_null(""))),
        (pl.col("email").is_not_null() & ~valid_email(pl.col("email")),
         pl.format("Customer Email '{}' is not a valid address", pl.col("Customer Email").fill_null(""))),
    ]
    if RAGGED in rows.columns:
        checks.insert(0, (pl.col(RAGGED).is_not_null(), pl.col(RAGGED)))
    frame = frame.with_columns(failed=pl.any_horizontal([c.fill_null(True) for c, _ in checks]))
    bad = frame.filter(pl.col("failed"))
    reason = pl.when(checks[0][0].fill_null(True)).then(checks[0][1])
    for check, text in checks[1:]:
        reason = reason.when(check.fill_null(True)).then(text)
    bad = bad.with_columns(reason=reason)
    bad = bad.with_columns(raw=pl.Series(source_lines(raw, [int(n) for n in bad.get_column("source_line")]),
                                         dtype=pl.String))
    good = frame.filter(~pl.col("failed"))
    gifts = good.filter(pl.col("status") != "failed")

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
        refund_id=pl.format("stripe:{}:refunded:{}", pl.col("charge_id"), pl.col("refunded")),
        donation_id=pl.lit("stripe:") + pl.col("charge_id"),
        amount=pl.col("refunded"),
        currency=pl.col("currency"),
        refunded_at=pl.col("refunded_at"),
        cumulative=pl.lit(True),
    )
    # a failed attempt is no gift, but the person is still a contact
    contacts = good.filter(pl.col("status") == "failed").select(
        "record_no", "email", "full_name", record_key=pl.lit("stripe:") + pl.col("charge_id"))
    quarantine = bad.select(line_or_key="source_line", reason="reason", raw="raw")
    return ParseResult(
        channel="stripe",
        records_read=rows.height,
        frames={"donations": donations, "refunds": refunds, "contacts": contacts},
        quarantine=quarantine,
    )

"""Checks every canonical frame must pass before loading; a failing record is quarantined whole."""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from legatura.flows.config import Settings

DIRECTIONS = ["inbound", "outbound"]
CONSENT_STATUSES = ["opted_in", "opted_out", "unknown", "pending"]   # pending: double opt-in awaiting its click


def _rules(name: str, settings: Settings) -> list[tuple[pl.Expr, str]]:
    """(expression that is true for a bad row, reason) per canonical frame."""
    known = [settings.money.base_currency.upper(), *(c.upper() for c in settings.money.fx)]
    if name == "interactions":
        return [
            (pl.col("interaction_id").is_null(), "no id for the interaction"),
            (pl.col("occurred_at").is_null(), "no valid time for the interaction"),
            (~pl.col("direction").is_in(DIRECTIONS), "direction must be inbound or outbound"),
        ]
    if name == "donations":
        return [
            (pl.col("donation_id").is_null(), "no transaction id for the gift"),
            (pl.col("amount").is_null() | (pl.col("amount") <= 0), "the amount is not a positive number"),
            (pl.col("donated_at").is_null(), "no valid date for the gift"),
            (~pl.col("currency").str.to_uppercase().is_in(known),
             "currency has no exchange rate: add it under [money] fx in legatura.toml"),
        ]
    if name == "refunds":
        return [(pl.col("donation_id").is_null() | pl.col("amount").is_null(), "refund without gift or amount")]
    if name == "shifts":
        return [
            (pl.col("started_at").is_null(), "no valid date for the shift"),
            (pl.col("hours").is_null() | (pl.col("hours") <= 0) | (pl.col("hours") > 24),
             "hours must be a number between 0 and 24"),
        ]
    if name == "consents":
        return [
            (~pl.col("status").is_in(CONSENT_STATUSES), "consent status must be opted_in, opted_out, unknown or pending"),
            (pl.col("address").is_null() | pl.col("recorded_at").is_null(), "consent without address or time"),
        ]
    return []


def validate_frames(frames: dict[str, pl.DataFrame], settings: Settings
                    ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Drop every record that breaks a rule from all frames; return them as quarantine rows (with record_no)."""
    bad_parts = []
    for name, frame in frames.items():
        for is_bad, reason in _rules(name, settings):
            bad = frame.filter(is_bad.fill_null(True))
            if bad.height:
                line = (pl.col("source_line") if "source_line" in bad.columns
                        else pl.lit(None, pl.String)).fill_null(
                    pl.concat_str([pl.lit("record "), (pl.col("record_no") + 1).cast(pl.String)]))
                bad_parts.append(bad.select(
                    "record_no", line_or_key=line, reason=pl.lit(reason),
                    raw=pl.struct(pl.all().exclude("record_no")).struct.json_encode()))
    if bad_parts:
        rejected = pl.concat(bad_parts).unique("record_no", keep="first", maintain_order=True)
        bad_records = rejected.get_column("record_no")
        frames = {n: f.filter(~pl.col("record_no").is_in(bad_records.implode())) for n, f in frames.items()}
    else:
        rejected = pl.DataFrame(schema={"record_no": pl.Int64, "line_or_key": pl.String,
                                        "reason": pl.String, "raw": pl.String})
    return frames, rejected

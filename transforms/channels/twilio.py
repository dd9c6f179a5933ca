"""Twilio inbound-SMS webhook payloads, one JSON object per line: sms interactions and STOP / START consent."""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import QUARANTINE_SCHEMA, ParseResult
from legatura.transforms.text import json_lines, normalise_phones, parse_offset_time

if TYPE_CHECKING:
    from legatura.flows.config import Settings

# the carriers' and Twilio's default keywords; the Body is matched trimmed and case-insensitively
OPT_OUT_KEYWORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
OPT_IN_KEYWORDS = ["START", "UNSTOP"]
FIELDS = ["MessageSid", "From", "To", "Body", "NumMedia", "OptOutType", "received_at"]


def detect(name: str, head: bytes) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    return first.startswith(b"{") and b'"MessageSid"' in first and b'"From"' in first


def _read_lines(raw: bytes) -> tuple[pl.DataFrame, list[dict], int]:
    """The payloads as a frame of FIELDS (strings), and a quarantine row for each line that is no JSON object."""
    payloads, rejected = [], []
    lines = json_lines(raw)
    for line in lines:
        reason = line.error or (None if isinstance(line.value, dict) else "not a JSON object of webhook fields")
        if reason:
            rejected.append({"record_no": line.record_no, "line_or_key": str(line.line), "raw": line.text, "reason": reason})
        else:
            payloads.append(line)
    columns = {"record_no": [p.record_no for p in payloads], "source_line": [str(p.line) for p in payloads],
               "raw": [p.text for p in payloads]}
    for key in FIELDS:   # column by column: one pass over the payloads each, no record dict per line
        values = [p.value.get(key) for p in payloads]
        columns[key] = [v if v is None or type(v) is str else str(v) for v in values]
    frame = pl.DataFrame(columns, schema={"record_no": pl.Int64, "source_line": pl.String, "raw": pl.String,
                                          **{k: pl.String for k in FIELDS}})
    return frame, rejected, len(lines)


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    frame, unreadable, read = _read_lines(raw)
    org = settings.organisation
    own_numbers = normalise_phones(pl.Series(org.phone_numbers, dtype=pl.String)).drop_nulls().to_list()
    frame = frame.with_columns(
        sid=pl.col("MessageSid").str.strip_chars().replace("", None),
        sender=normalise_phones(frame.get_column("From")),
        recipient=normalise_phones(frame.get_column("To")),
        occurred_at=parse_offset_time(pl.col("received_at"), org.timezone),
        keyword=pl.col("Body").fill_null("").str.strip_chars().str.to_uppercase(),
        flagged=pl.col("OptOutType").str.strip_chars().str.to_uppercase(),
    ).with_columns(outbound=pl.col("sender").is_in(own_numbers))
    reason = (
        pl.when(pl.col("sid").is_null()).then(pl.lit("no MessageSid"))
        .when(pl.col("From").fill_null("").str.strip_chars() == "").then(pl.lit("no From number"))
        .when(pl.col("sender").is_null()).then(pl.format("From '{}' is not a phone number", pl.col("From")))
        .when(pl.col("outbound") & pl.col("recipient").is_null()).then(
            pl.format("message from the NGO's own number to '{}', which is not a phone number", pl.col("To")))
        .when(pl.col("occurred_at").is_null()).then(
            pl.format("received_at '{}' is not an ISO 8601 time", pl.col("received_at").fill_null("")))
    )
    frame = frame.with_columns(reason=reason)
    good = frame.filter(pl.col("reason").is_null())

    # Twilio's OptOutType (set when it acted on a keyword) is authoritative; YES counts only when flagged
    consent = (
        pl.when(pl.col("outbound")).then(None)
        .when(pl.col("flagged") == "STOP").then(pl.lit("opted_out"))
        .when(pl.col("flagged") == "START").then(pl.lit("opted_in"))
        .when(pl.col("keyword").is_in(OPT_OUT_KEYWORDS)).then(pl.lit("opted_out"))
        .when(pl.col("keyword").is_in(OPT_IN_KEYWORDS)).then(pl.lit("opted_in"))
    )
    good = good.with_columns(
        consent=consent,
        counterpart=pl.when(pl.col("outbound")).then(pl.col("recipient")).otherwise(pl.col("sender")),
    )
    media = pl.col("NumMedia").cast(pl.Int64, strict=False).fill_null(0)
    interactions = good.select(
        "record_no", "source_line", "occurred_at",
        interaction_id=pl.lit("twilio:") + pl.col("sid"),
        external_id=pl.col("sid"),
        channel=pl.lit("sms"),
        direction=pl.when(pl.col("outbound")).then(pl.lit("outbound")).otherwise(pl.lit("inbound")),
        kind=pl.col("consent").replace_strict({"opted_out": "opt_out", "opted_in": "opt_in"}, default="message"),
        body=pl.when((pl.col("Body").fill_null("") == "") & (media > 0))
        .then(pl.format("[{} media]", media)).otherwise(pl.col("Body")),
        awaits_answer=~pl.col("outbound") & pl.col("consent").is_null(),
        address=pl.col("counterpart"),
        phone=pl.col("counterpart"),
    )
    consents = good.filter(pl.col("consent").is_not_null()).select(
        "record_no",
        channel=pl.lit("sms"),
        address=pl.col("sender"),
        status=pl.col("consent"),
        recorded_at=pl.col("occurred_at"),
        source=pl.lit("twilio:") + pl.when(pl.col("keyword") != "").then(pl.col("keyword"))
        .otherwise(pl.col("flagged")),
        phone=pl.col("sender"),
    )
    quarantine = pl.concat([
        pl.DataFrame(unreadable, schema=QUARANTINE_SCHEMA),
        frame.filter(pl.col("reason").is_not_null()).select("record_no", line_or_key="source_line", reason="reason",
                                                             raw="raw"),
    ])
    return ParseResult(
        channel="twilio",
        records_read=read,
        frames={"interactions": interactions, "consents": consents},
        quarantine=quarantine,
    )

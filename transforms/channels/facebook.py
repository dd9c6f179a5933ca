"""Facebook page "Download your information" messages: one `message_N.json` per thread, mojibake repaired.

The counterpart of a thread is a contact of its own, known only by the thread (`facebook_ref` =
thread_path): a Facebook name is no evidence that two people are one. Messages have no id, so each is
keyed by a hash of thread, sender, timestamp_ms and content; later downloads repeat them unchanged.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import fold_header, row_hash

if TYPE_CHECKING:
    from legatura.flows.config import Settings



class NotAFacebookThread(Exception):
    """The file is not a Facebook messages thread (message_N.json with participants and messages)."""


def detect(name: str, head: bytes) -> bool:
    # message_1.json in a real export; any .json with a thread's keys when renamed
    return name.lower().endswith(".json") and b'"participants"' in head and b'"messages"' in head


def repair_mojibake(value: Any) -> Any:
    """Facebook writes each UTF-8 byte as its own \\u00XX escape: re-read every string as UTF-8."""
    if isinstance(value, str):
        try:
            return unicodedata.normalize("NFC", value.encode("latin-1").decode("utf-8"))
        except (UnicodeEncodeError, UnicodeDecodeError):
            return unicodedata.normalize("NFC", value)   # already real text
    if isinstance(value, list):
        return [repair_mojibake(v) for v in value]
    if isinstance(value, dict):
        return {k: repair_mojibake(v) for k, v in value.items()}
    return value


def _thread(raw: bytes, source: str) -> dict:
    try:
        thread = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotAFacebookThread(f"{source}: not a Facebook messages thread: not valid JSON ({exc})") from None
    if not isinstance(thread, dict) or not isinstance(thread.get("messages"), list) \
            or not isinstance(thread.get("participants"), list):
        raise NotAFacebookThread(
            f"{source}: not a Facebook messages thread: expected a JSON object with 'participants' and 'messages'")
    return repair_mojibake(thread)


def _thread_path(thread: dict, source: str) -> str:
    """thread_path as written, else `<folder>/<thread folder>` from the file's own path."""
    given = thread.get("thread_path")
    if isinstance(given, str) and given.strip():
        return given.strip()
    parts = PurePath(source).parts
    if len(parts) < 3:
        raise NotAFacebookThread(f"{source}: the thread has no thread_path and its folder does not name it")
    return f"{parts[-3]}/{parts[-2]}"


def _body(message: dict) -> str | None:
    content = message.get("content")
    if isinstance(content, str) and content != "":
        return content
    if message.get("photos"):
        return "[photo]"
    return "[attachment]"


def _folded(name: pl.Expr) -> pl.Expr:
    """A name as compared with the page's: fold_header's rules as an expression (text is NFC already)."""
    return name.str.replace_many(["ş", "ţ", "Ş", "Ţ"], ["ș", "ț", "Ș", "Ț"]).str.strip_chars().str.to_lowercase()


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    thread = _thread(raw, source)
    thread_path = _thread_path(thread, source)
    page = fold_header(settings.organisation.facebook_page)
    names = [p.get("name") for p in thread["participants"] if isinstance(p, dict) and isinstance(p.get("name"), str)]
    others = [n for n in names if fold_header(n) != page]
    page = pl.select(_folded(pl.lit(unicodedata.normalize("NFC", settings.organisation.facebook_page)))).item()
    counterpart = others[0] if len(others) == 1 else (thread.get("title") or ", ".join(others) or None)

    records = []
    for index, message in enumerate(thread["messages"]):
        message = message if isinstance(message, dict) else {}
        stamp = message.get("timestamp_ms")
        records.append({
            "record_no": index,
            "sender": message.get("sender_name") if isinstance(message.get("sender_name"), str) else None,
            "timestamp_ms": stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None,
            "content": message.get("content") if isinstance(message.get("content"), str) else None,
            "body": _body(message),
            "raw": json.dumps(message, ensure_ascii=False),
        })
    frame = pl.DataFrame(records, schema={"record_no": pl.Int64, "sender": pl.String, "timestamp_ms": pl.Int64,
                                          "content": pl.String, "body": pl.String, "raw": pl.String})
    frame = frame.with_columns(thread_path=pl.lit(thread_path, pl.String))
    frame = frame.with_columns(
        interaction_id=row_hash(frame, ["thread_path", "sender", "timestamp_ms", "content"], "facebook:"),
        outbound=_folded(pl.col("sender")) == page,
        reason=pl.when(pl.col("sender").is_null()).then(pl.lit("message without sender_name"))
        .when(pl.col("timestamp_ms").is_null()).then(pl.lit("message without a numeric timestamp_ms")),
    )
    good = frame.filter(pl.col("reason").is_null())
    interactions = good.select(
        "record_no", "interaction_id", "body",
        channel=pl.lit("social"),
        kind=pl.lit("message"),
        direction=pl.when(pl.col("outbound")).then(pl.lit("outbound")).otherwise(pl.lit("inbound")),
        occurred_at=pl.from_epoch(pl.col("timestamp_ms"), time_unit="ms").dt.replace_time_zone("UTC"),
        thread_ref=pl.col("thread_path"),
        awaits_answer=~pl.col("outbound"),
        source_line=pl.format("{}#{}", pl.col("thread_path"), pl.col("record_no")),
        facebook_ref=pl.col("thread_path"),
        full_name=pl.lit(counterpart, pl.String),
    )
    quarantine = frame.filter(pl.col("reason").is_not_null()).select(
        "record_no", line_or_key=pl.format("{}#{}", pl.col("thread_path"), pl.col("record_no")), reason="reason", raw="raw")
    return ParseResult(
        channel="facebook",
        records_read=frame.height,
        frames={"interactions": interactions},
        quarantine=quarantine,
    )

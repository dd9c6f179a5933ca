"""Partner agreements, a hand-kept YAML list or a CSV with the same field names: one row per agreement.

The organisation is the row's party (kind 'organisation', identified by its contact_email) and the
liaison person its liaison_* party; the loader links the liaison to the organisation. In a CSV the
two-sided fields come as `responsibilities_ngo` / `responsibilities_partner` columns (or one cell of
JSON); both forms are stored as JSON text {"ngo": …, "partner": …}.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml
from legatura.transforms.channels import QUARANTINE_SCHEMA, ParseResult
from legatura.transforms.text import (
    decode_text,
    normalise_email,
    normalise_phones,
    read_export,
    record_texts,
    sniff_delimiter,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

PARTNER_TYPES = ["sponsor", "media", "endorser", "coalition", "licensee", "ngo"]
TEXT_FIELDS = ["agreement_id", "partner", "type", "contact_email", "liaison", "liaison_email", "liaison_phone",
               "stage", "starts_on", "ends_on", "objectives", "cooperation_mechanism", "benefit_sharing", "notes",
               "address"]
TWO_SIDED = ["responsibilities", "contributions"]
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")


class NotAPartnersFile(Exception):
    """The file is neither a YAML list of agreements nor a CSV with an agreement_id column."""


def _csv_header(text: str) -> list[str]:
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    return [h.strip().strip('"').strip() for h in first.split(sniff_delimiter(first))]


def detect(name: str, head: bytes) -> bool:
    suffix = PurePath(name).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return b"agreement_id" in head
    text, _ = decode_text(head.split(b"\n", 1)[0])
    header = _csv_header(text)
    return "agreement_id" in header and "partner" in header


# --- reading: YAML items or CSV rows into one frame of strings --------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _two_sided(value: Any) -> str | None:
    """{ngo: …, partner: …} as JSON text; a plain text is kept under "text"."""
    if value is None:
        return None
    if isinstance(value, dict):
        return json.dumps({"ngo": _text(value.get("ngo")), "partner": _text(value.get("partner")),
                           **{str(k): _text(v) for k, v in value.items() if k not in ("ngo", "partner")}},
                          ensure_ascii=False)
    return json.dumps({"text": _text(value)}, ensure_ascii=False)


class _AgreementLoader(yaml.SafeLoader):
    """safe_load's loader, except that an impossible date (2027-13-01) stays text for a clear reason later."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_AgreementLoader.add_constructor("tag:yaml.org,2002:timestamp", _AgreementLoader.construct_yaml_timestamp)


def _yaml_items(text: str, source: str) -> tuple[list[dict], list[dict]]:
    """Agreements as string records (with their YAML line), and items that are no mapping."""
    loader = _AgreementLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise NotAPartnersFile(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        node = node.value[0][1]
        data = next(iter(data.values()))
    if data is None:
        return [], []
    if not isinstance(data, list):
        raise NotAPartnersFile(f"{source}: expected a YAML list of agreements (items starting with '- ')")
    records, rejected = [], []
    for index, (item, item_node) in enumerate(zip(data, node.value, strict=True)):
        line = str(item_node.start_mark.line + 1)
        raw = text[item_node.start_mark.index:item_node.end_mark.index].rstrip()
        if not isinstance(item, dict):
            rejected.append({"record_no": index, "line_or_key": line, "raw": raw,
                             "reason": "the item is not a mapping of agreement fields"})
            continue
        records.append({
            "record_no": index, "source_line": line, "raw": raw,
            **{f: _text(item.get(f)) for f in TEXT_FIELDS},
            **{f: _two_sided(item.get(f)) for f in TWO_SIDED},
        })
    return records, rejected


def _csv_frame(raw: bytes, source: str) -> pl.DataFrame:
    rows, columns, delimiter = read_export(raw, source)
    if "agreement_id" not in columns:
        raise NotAPartnersFile(f"{source}: a partners CSV needs an agreement_id column, found {columns}")
    cell = lambda name: (pl.col(name).str.strip_chars().replace("", None) if name in columns  # noqa: E731
                         else pl.lit(None, pl.String))

    def two_sided(name: str) -> pl.Expr:
        whole = cell(name)
        sides = pl.struct(ngo=cell(f"{name}_ngo"), partner=cell(f"{name}_partner")).struct.json_encode()
        return (pl.when(whole.str.starts_with("{")).then(whole)
                .when(whole.is_not_null()).then(pl.struct(text=whole).struct.json_encode())
                .when(cell(f"{name}_ngo").is_not_null() | cell(f"{name}_partner").is_not_null()).then(sides))

    return rows.select(
        "record_no", "source_line", "ragged",
        raw=record_texts(rows, columns, delimiter),
        **{f: cell(f) for f in TEXT_FIELDS},
        **{f: two_sided(f) for f in TWO_SIDED},
    )


# --- checking and mapping ------------------------------------------------------------------------------------

def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    text, _ = decode_text(raw)
    text = text.replace("\r\n", "\n")
    schema = {"record_no": pl.Int64, "source_line": pl.String, "ragged": pl.String, "raw": pl.String,
              **{f: pl.String for f in TEXT_FIELDS + TWO_SIDED}}
    is_csv = PurePath(source).suffix.lower() in (".csv", ".txt") or (
        PurePath(source).suffix.lower() not in (".yaml", ".yml") and "agreement_id" in _csv_header(text))
    if is_csv:
        frame, unreadable = _csv_frame(raw, source).cast(schema), []
    else:
        records, unreadable = _yaml_items(text, source)
        frame = pl.DataFrame(records, schema=schema)
    date = lambda name: pl.coalesce(  # noqa: E731
        [pl.col(name).str.strptime(pl.Date, f, strict=False) for f in DATE_FORMATS])
    frame = frame.with_columns(
        partner_type=pl.col("type").str.to_lowercase(),
        starts=date("starts_on"), ends=date("ends_on"),
        email=normalise_email(pl.col("contact_email")),
        liaison_email=normalise_email(pl.col("liaison_email")),
        liaison_phone_e164=normalise_phones(frame.get_column("liaison_phone")),
    )
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("agreement_id").is_null()).then(pl.lit("agreement without agreement_id"))
        .when(pl.col("partner").is_null()).then(pl.format("agreement {} names no partner", pl.col("agreement_id")))
        .when(~pl.col("partner_type").is_in(PARTNER_TYPES).fill_null(False)).then(pl.format(
            "agreement {}: type '{}' is not one of " + ", ".join(PARTNER_TYPES),
            pl.col("agreement_id"), pl.col("type").fill_null("")))
        .when(pl.col("email").is_null()).then(pl.format(
            "agreement {} has no contact_email: the organisation needs an address to be known by",
            pl.col("agreement_id")))
        .when(~valid_email(pl.col("email"))).then(pl.format(
            "agreement {}: contact_email '{}' is not a valid address", pl.col("agreement_id"), pl.col("contact_email")))
        .when(pl.col("liaison_email").is_not_null() & ~valid_email(pl.col("liaison_email"))).then(pl.format(
            "agreement {}: liaison_email '{}' is not a valid address", pl.col("agreement_id"),
            pl.col("liaison_email")))
        .when(pl.col("liaison_phone").is_not_null() & pl.col("liaison_phone_e164").is_null()).then(pl.format(
            "agreement {}: liaison_phone '{}' is not a phone number", pl.col("agreement_id"),
            pl.col("liaison_phone")))
        .when(pl.col("starts_on").is_not_null() & pl.col("starts").is_null()).then(pl.format(
            "agreement {}: starts_on '{}' is not a date (YYYY-MM-DD)", pl.col("agreement_id"), pl.col("starts_on")))
        .when(pl.col("ends_on").is_not_null() & pl.col("ends").is_null()).then(pl.format(
            "agreement {}: ends_on '{}' is not a date (YYYY-MM-DD)", pl.col("agreement_id"), pl.col("ends_on")))
        .when(pl.col("ends") < pl.col("starts")).then(pl.format(
            "agreement {} ends ({}) before it starts ({})", pl.col("agreement_id"), pl.col("ends"), pl.col("starts")))
    )
    frame = frame.with_columns(reason=reason)
    good = frame.filter(pl.col("reason").is_null())
    partners = good.select(
        "record_no", "partner_type", "stage", "objectives", "responsibilities", "contributions",
        "cooperation_mechanism", "benefit_sharing", "liaison", "notes", "email",
        partner_id=pl.col("agreement_id"),
        partner_name=pl.col("partner"),
        starts_on=pl.col("starts"),
        ends_on=pl.col("ends"),
        full_name=pl.col("partner"),
        contact_kind=pl.lit("organisation"),
        liaison_email=pl.col("liaison_email"),
        liaison_phone=pl.col("liaison_phone_e164"),
        liaison_full_name=pl.col("liaison"),
        postal_address=pl.col("address").str.strip_chars().replace("", None),
    )
    quarantine = pl.concat([
        pl.DataFrame(unreadable, schema=QUARANTINE_SCHEMA),
        frame.filter(pl.col("reason").is_not_null()).select("record_no", line_or_key="source_line", reason="reason",
                                                             raw="raw"),
    ])
    return ParseResult(
        channel="partners",
        records_read=frame.height + len(unreadable),
        frames={"partners": partners},
        quarantine=quarantine,
    )

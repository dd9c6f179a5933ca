"""A CSV layout of the user's own, described by a `[mappings.<name>]` section of legatura.toml.

Keys of the section (docs/mappings.md has a complete example):

    target           "donations" | "contacts" | "interactions"   (default: guessed from the columns)
    match            glob for file names that use this layout, e.g. "transferuri_*.csv" (used by ingest)
    timestamp_format strptime format of the time column, e.g. "%d.%m.%Y"   (default: guessed per file)
    timezone         zone of naive times                                  (default: [organisation] timezone)
    decimal_comma    true for `1.234,50`                                  (default: true when `;`-delimited)
    currency         currency of amounts when no column says it          (default: [money] base_currency)
    method           payment method of every gift, e.g. "bank_transfer"   (donations; default: none)
    key              header of a column holding a unique id              (default: the external_id column,
                                                                           else a hash of the normalised row)
    channel, kind, direction    of interactions                (default: "form", "form_request", "inbound")
    timestamp_column header of the time column (same as mapping it to donated_at / occurred_at / recorded_at)
    preset           "forms": the same as target = "interactions" (accepted for the forms example file)

    [mappings.<name>.columns]   header text -> canonical field (alias: [mappings.<name>.mapping])
        full_name first_name last_name email phone language external_id
        donations:    amount currency donated_at campaign method recurring
        interactions: occurred_at subject body campaign consent consent_email consent_sms
        contacts:     recorded_at tags consent_email consent_sms
    [mappings.<name>.consent_email]  (also .consent_sms, .consent)
        true_values  answers that opt in   (default: any answer but a plain no: "", nu, no, false, 0)
        false_values answers that opt out  (default: none; an unticked box is no choice)
        empty_means  "unknown" (the only choice: an empty answer records nothing)
        confirm      true: an email opt-in is `pending` until its confirmation link is clicked (double opt-in)

Headers match ignoring case, diacritics (so cedilla ş ţ too), repeated spaces and a trailing `?`, `:` or `*`.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import polars as pl
from babel.numbers import list_currencies
from legatura.transforms.channels import ParseResult
from legatura.transforms.channels.forms import (
    awaiting_confirmation,
    guess_time_format,
    parse_time,
    plain_header,
    requests_from_fields,
    ticked,
)
from legatura.transforms.errors import LegaturaError
from legatura.transforms.text import (
    amount_key,
    normalise_email,
    normalise_phones,
    parse_amount,
    quarantined,
    read_export,
    row_hash,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

TARGETS = ("donations", "contacts", "interactions")
KEYS = {"target", "match", "timestamp_format", "timezone", "decimal_comma", "currency", "method", "key",
        "channel", "kind", "direction", "timestamp_column", "preset", "columns", "mapping",
        "consent", "consent_email", "consent_sms"}
PARTY_FIELDS = {"full_name", "first_name", "last_name", "email", "phone", "language", "external_id"}
TIME_FIELDS = {"donated_at", "occurred_at", "recorded_at", "timestamp"}
FIELDS = {
    "donations": PARTY_FIELDS | TIME_FIELDS | {"amount", "currency", "campaign", "method", "recurring"},
    "interactions": PARTY_FIELDS | TIME_FIELDS | {"subject", "body", "campaign", "consent", "consent_email",
                                                  "consent_sms"},
    "contacts": PARTY_FIELDS | TIME_FIELDS | {"tags", "consent_email", "consent_sms"},
}
CONSENT_FIELDS = ("consent", "consent_email", "consent_sms")
YES = ["da", "yes", "true", "1", "x", "y", "d", "lunar", "monthly", "recurent", "recurring"]


class MappingError(LegaturaError):
    """A [mappings.<name>] section of legatura.toml cannot read this file."""


class MappingHeaderMissing(MappingError):
    """A header named in [mappings.<name>.columns] is not in the file."""


def _target(name: str, mapping: dict[str, Any], fields: set[str]) -> str:
    target = mapping.get("target") or ("interactions" if mapping.get("preset") == "forms" else None)
    if target is None:
        target = ("donations" if "amount" in fields else
                  "interactions" if fields & {"subject", "body"} else "contacts")
    if target not in TARGETS:
        raise MappingError(f"[mappings.{name}] target = {target!r}: use one of {', '.join(TARGETS)}")
    return target


def check_mapping(name: str, mapping: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The target and the header -> field table of a section, or a MappingError saying what to fix."""
    # DESIGN's short form: header = field lines straight in the section, without a .columns table
    every_field = set().union(*FIELDS.values())
    flat = {k: v for k, v in mapping.items() if k not in KEYS and isinstance(v, str) and v in every_field}
    if flat:
        mapping = {**{k: v for k, v in mapping.items() if k not in flat},
                   "columns": {**flat, **dict(mapping.get("columns") or mapping.get("mapping") or {})}}
    unknown = sorted(set(mapping) - KEYS)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), KEYS, n=1)
        raise MappingError(f"[mappings.{name}] has unknown keys {unknown}; "
                           + (f"did you mean {close[0]}? " if close else "")
                           + f"the keys are {sorted(KEYS)} (see docs/mappings.md)")
    if mapping.get("preset") not in (None, "forms"):
        raise MappingError(f"[mappings.{name}] preset = {mapping['preset']!r}: only \"forms\" can be extended; "
                           "use target = \"donations\", \"contacts\" or \"interactions\"")
    columns = dict(mapping.get("columns") or mapping.get("mapping") or {})
    if mapping.get("timestamp_column"):
        columns.setdefault(mapping["timestamp_column"], "timestamp")
    if not columns:
        raise MappingError(f"[mappings.{name}] maps no columns: add a [mappings.{name}.columns] table of "
                           "\"header text\" = \"canonical field\" (see docs/mappings.md)")
    target = _target(name, mapping, set(columns.values()))
    wrong = sorted({f for f in columns.values() if f not in FIELDS[target]})
    if wrong:
        close = difflib.get_close_matches(str(wrong[0]), FIELDS[target], n=1)
        raise MappingError(f"[mappings.{name}.columns] fields {wrong} mean nothing for target {target}; "
                           + (f"did you mean {close[0]!r}? " if close else "") + f"use {sorted(FIELDS[target])}")
    fields = set(columns.values())
    if len(fields & TIME_FIELDS) > 1:
        raise MappingError(f"[mappings.{name}.columns] maps more than one time column "
                           f"({sorted(fields & TIME_FIELDS)}); keep one")
    needs = {"donations": [("amount",), tuple(TIME_FIELDS)], "interactions": [tuple(TIME_FIELDS), ("email", "phone")],
             "contacts": [("email", "phone")]}[target]
    if target == "contacts" and fields & set(CONSENT_FIELDS):
        needs.append(tuple(TIME_FIELDS))
    for options in needs:
        if not fields & set(options):
            what = "a time column (donated_at, occurred_at or recorded_at)" if options == tuple(TIME_FIELDS) \
                else " or ".join(options)
            raise MappingError(f"[mappings.{name}] target {target} needs {what}: add it under "
                               f"[mappings.{name}.columns]")
    for field in CONSENT_FIELDS:
        options = mapping.get(field) or {}
        if not isinstance(options.get("confirm", False), bool):
            raise MappingError(f"[mappings.{name}.{field}] confirm = {options['confirm']!r}: use true or false")
        if options.get("empty_means", "unknown") != "unknown":
            raise MappingError(f"[mappings.{name}.{field}] empty_means = {options['empty_means']!r}: only "
                               "\"unknown\" is allowed (an empty answer is no choice, never an opt-out)")
    return target, columns


TEXT_KEYS = ("match", "timestamp_format", "method", "key", "channel", "kind", "timestamp_column")
CONSENT_KEYS = {"true_values", "false_values", "empty_means"}


def validate(name: str, mapping: dict[str, Any]) -> None:
    """Check a [mappings.<name>] section before any file is read; a MappingError names the key to fix."""
    check_mapping(name, mapping)
    for key in TEXT_KEYS:
        if key in mapping and not (isinstance(mapping[key], str) and mapping[key].strip()):
            raise MappingError(f"[mappings.{name}] {key} must be a non-empty text")
    for table in ("columns", "mapping"):
        for header, field in (mapping.get(table) or {}).items():
            if not isinstance(field, str):
                raise MappingError(f"[mappings.{name}.{table}] {header!r} = {field!r}: a field name in quotes")
    if "timestamp_format" in mapping and "%" not in mapping["timestamp_format"]:
        raise MappingError(f"[mappings.{name}] timestamp_format = {mapping['timestamp_format']!r} is no strptime "
                           "format; write it like \"%d.%m.%Y %H:%M\"")
    if "timezone" in mapping:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(mapping["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(f"[mappings.{name}] timezone = {mapping['timezone']!r}: no time zone has this name "
                               "(use an IANA name such as Europe/Bucharest)") from None
    if "decimal_comma" in mapping and not isinstance(mapping["decimal_comma"], bool):
        raise MappingError(f"[mappings.{name}] decimal_comma must be true or false")
    currency = mapping.get("currency")
    if currency is not None and not (isinstance(currency, str) and currency.upper() in list_currencies()):
        raise MappingError(f"[mappings.{name}] currency = {currency!r}: use an ISO 4217 code such as RON or EUR")
    if mapping.get("direction", "inbound") not in ("inbound", "outbound"):
        raise MappingError(f"[mappings.{name}] direction = {mapping['direction']!r}: use inbound or outbound")
    for field in CONSENT_FIELDS:
        options = mapping.get(field)
        if options is None:
            continue
        if not isinstance(options, dict):
            raise MappingError(f"[mappings.{name}] {field} must be a table ([mappings.{name}.{field}])")
        unknown = sorted(set(options) - CONSENT_KEYS)
        if unknown:
            raise MappingError(f"[mappings.{name}.{field}] has unknown keys {unknown}; the keys are "
                               f"{sorted(CONSENT_KEYS)}")
        for key in ("true_values", "false_values"):
            values = options.get(key, [])
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise MappingError(f"[mappings.{name}.{field}] {key} must be a list of answers in quotes")


def _resolve_headers(name: str, columns: dict[str, str], file_columns: list[str], source: str,
                     says: str = "") -> dict[str, str]:
    """field -> the file's own header for every mapped header."""
    present = {plain_header(c): c for c in file_columns}
    resolved = {}
    for header, field in columns.items():
        actual = present.get(plain_header(header))
        if actual is None:
            raise MappingHeaderMissing(
                f"{says or f'[mappings.{name}.columns] maps header'} {header!r} but {source} has no such column "
                f"(its headers: {', '.join(file_columns)}); correct the header text in legatura.toml "
                "or check that this file is the export the mapping describes")
        resolved.setdefault(field, actual)
    return resolved


def _readable(fmt: str | None) -> str:
    if fmt is None:
        return "an ISO-8601 time"
    for code, text in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%H", "HH"), ("%M", "MM"), ("%S", "SS")):
        fmt = fmt.replace(code, text)
    return fmt


def parse(raw: bytes, source: str, settings: Settings, name: str) -> ParseResult:
    mapping = settings.mappings.get(name)
    if mapping is None:
        raise MappingError(f"no [mappings.{name}] section in legatura.toml")
    target, columns = check_mapping(name, mapping)
    rows, file_columns, delimiter = read_export(raw, source)
    headers = _resolve_headers(name, columns, file_columns, source)
    time_field = next((f for f in headers if f in TIME_FIELDS), None)
    timezone = mapping.get("timezone") or settings.organisation.timezone
    fmt = mapping.get("timestamp_format") or (guess_time_format(rows.get_column(headers[time_field]))
                                              if time_field else None)
    key_header = None
    if mapping.get("key"):
        key_header = _resolve_headers(name, {mapping["key"]: "key"}, file_columns, source,
                                      says=f"[mappings.{name}] key names header")["key"]
    elif "external_id" in headers:
        key_header = headers["external_id"]

    value = lambda field: (pl.col(headers[field]).str.strip_chars().replace("", None) if field in headers  # noqa: E731
                           else pl.lit(None, pl.String))
    first_last = pl.concat_str([value("first_name"), value("last_name")], separator=" ",
                               ignore_nulls=True).replace("", None)
    fielded = rows.select(
        "record_no", "source_line", "ragged",
        time_text=value(time_field) if time_field else pl.lit(None, pl.String),
        occurred_at=parse_time(pl.col(headers[time_field]), fmt, timezone) if time_field
        else pl.lit(None, pl.Datetime("us", "UTC")),
        full_name=pl.coalesce(value("full_name"), first_last).str.replace_all(r"\s+", " "),
        external_id=pl.col(key_header).str.strip_chars().replace("", None) if key_header
        else pl.lit(None, pl.String),
        **{f: pl.col(h) for f, h in headers.items()
           if f not in TIME_FIELDS | {"full_name", "first_name", "last_name", "external_id"}},
    )
    consent_values = {f: (list((mapping.get(f) or {}).get("true_values", [])),
                          list((mapping.get(f) or {}).get("false_values", []))) for f in CONSENT_FIELDS}
    time_label = headers.get(time_field, "time")
    if target == "interactions":
        frames, rejected = requests_from_fields(
            fielded, settings, id_prefix=f"{name}:", source=name, channel=mapping.get("channel", "form"),
            kind=mapping.get("kind", "form_request"), direction=mapping.get("direction", "inbound"),
            time_label=time_label, time_format=_readable(fmt), consent_values=consent_values)
    elif target == "donations":
        # Excel in a Romanian locale writes `;` and `1.234,50`
        decimal_comma = bool(mapping["decimal_comma"]) if "decimal_comma" in mapping else delimiter == ";"
        frames, rejected = _donations(fielded, mapping, settings, name, time_label, _readable(fmt), key_header,
                                        decimal_comma, headers)
    else:
        frames, rejected = _contacts(fielded, name, time_label, _readable(fmt), consent_values)
    confirm = any(bool((mapping.get(f) or {}).get("confirm")) for f in ("consent", "consent_email"))
    frames = awaiting_confirmation(frames, confirm)
    return ParseResult(channel=name, records_read=rows.height, frames=frames,
                       quarantine=quarantined(rejected, file_columns, delimiter, rows))


def _identity(frame: pl.DataFrame) -> pl.DataFrame:
    """Normalised email (null when invalid) and E.164 phone, keeping what was typed for the reasons."""
    text = lambda name: (pl.col(name).str.strip_chars().replace("", None) if name in frame.columns  # noqa: E731
                         else pl.lit(None, pl.String))
    phones = frame.get_column("phone") if "phone" in frame.columns else pl.Series([None] * frame.height,
                                                                                     dtype=pl.String)
    return frame.with_columns(
        email_text=text("email"), phone_text=text("phone"), email=normalise_email(text("email")),
        phone=normalise_phones(phones), language=text("language"),
    ).with_columns(email=pl.when(valid_email(pl.col("email"))).then(pl.col("email")))


def _unknown_identity() -> pl.Expr:
    return (pl.when(pl.col("email").is_null() & pl.col("email_text").is_not_null() & pl.col("phone").is_null())
            .then(pl.format("email '{}' is not a valid address", pl.col("email_text"))))


def _donations(fielded, mapping, settings, name, time_label, expected, key_header, decimal_comma, headers):
    currency = (mapping.get("currency") or settings.money.base_currency).upper()
    frame = _identity(fielded).with_columns(
        amount=parse_amount(pl.col("amount"), decimal_comma=decimal_comma),
        currency=pl.coalesce(pl.col("currency").str.strip_chars().replace("", None) if "currency" in fielded.columns
                             else pl.lit(None, pl.String), pl.lit(currency)).str.to_uppercase(),
        campaign=pl.col("campaign").str.strip_chars().replace("", None) if "campaign" in fielded.columns
        else pl.lit(None, pl.String),
        method=pl.coalesce(pl.col("method").str.strip_chars().replace("", None) if "method" in fielded.columns
                           else pl.lit(None, pl.String), pl.lit(mapping.get("method"), pl.String)),
        recurring=pl.col("recurring").str.strip_chars().str.to_lowercase().is_in(YES).fill_null(False)
        if "recurring" in fielded.columns else pl.lit(False),
    )
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.lit(key_header is not None) & pl.col("external_id").is_null()).then(
            pl.lit(f"empty {key_header}: the gift has no id"))
        .when(pl.col("occurred_at").is_null()).then(pl.format(
            f"{time_label} '{{}}' is not a date{' (expected ' + expected + ')' if expected else ''}",
            pl.coalesce("time_text", pl.lit(""))))
        .when(pl.col("amount").is_null()).then(pl.format(
            f"{headers['amount']} '{{}}' is not a number", pl.coalesce(pl.col("amount_text"), pl.lit(""))))
        .otherwise(_unknown_identity())
    )
    frame = frame.with_columns(amount_text=fielded.get_column("amount")).with_columns(reason=reason)
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null()).with_columns(
        donated_iso=pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S"))
    # the amount spelled as before amounts were exact, so a file loaded then keeps its keys
    hashed = row_hash(good.with_columns(amount=amount_key(pl.col("amount"))), ["donated_iso", "email", "phone", "full_name", "amount", "currency", "campaign"],
                      f"{name}:")
    donations = good.with_columns(hashed=hashed).select(
        "record_no", "source_line", "email", "phone", "full_name", "language", "amount", "currency",
        "campaign", "method", "recurring", "external_id",
        donation_id=pl.when(pl.col("external_id").is_not_null()).then(pl.lit(f"{name}:") + pl.col("external_id"))
        .otherwise(pl.col("hashed")),
        donated_at=pl.col("occurred_at"),
        source=pl.lit(name),
    )
    return {"donations": donations}, bad.select("record_no", "source_line", "reason")


def _contacts(fielded, name, time_label, expected, consent_values):
    frame = _identity(fielded).with_columns(
        tags=pl.col("tags").str.split(by=",").list.eval(pl.element().str.strip_chars().str.strip_chars('"'))
        .list.eval(pl.element().filter(pl.element().str.len_chars() > 0)).fill_null([])
        if "tags" in fielded.columns else pl.lit([], pl.List(pl.String)),
    )
    has_consent = any(f in fielded.columns for f in CONSENT_FIELDS)
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("email").is_null() & pl.col("phone").is_null() & pl.col("email_text").is_not_null())
        .then(pl.format("email '{}' is not a valid address and there is no phone", pl.col("email_text")))
        .when(pl.col("email").is_null() & pl.col("phone").is_null()).then(pl.lit("no email or phone for the contact"))
    )
    if has_consent:
        reason = reason.when(pl.col("occurred_at").is_null()).then(pl.format(
            f"{time_label} '{{}}' is not a date{' (expected ' + expected + ')' if expected else ''}: "
            "the consent cannot be dated", pl.coalesce("time_text", pl.lit(""))))
    frame = frame.with_columns(reason=reason)
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null())
    party = ["record_no", "email", "phone", "full_name", "language"]
    frames = {"contacts": good.select(*party, "tags")}
    consents = []
    for field, consent_channel, address in (("consent_email", "email", "email"), ("consent_sms", "sms", "phone")):
        if field not in good.columns:
            continue
        true_values, false_values = consent_values.get(field, ([], []))
        answer = pl.col(field).str.strip_chars().str.to_lowercase()
        for status, chosen in (("opted_in", ticked(pl.col(field), true_values)),
                               ("opted_out", answer.is_in([v.lower() for v in false_values]) if false_values
                                else pl.lit(False))):
            consents.append(good.filter(chosen & pl.col(address).is_not_null()).select(
                *party, channel=pl.lit(consent_channel), address=pl.col(address), status=pl.lit(status),
                recorded_at=pl.col("occurred_at"), source=pl.lit(name)))
    if consents:
        frames["consents"] = pl.concat(consents)
    return frames, bad.select("record_no", "source_line", "reason")

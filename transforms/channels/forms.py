"""Web-form response sheets (Google Forms style: Timestamp + one column per question): inbound requests.

Works with no configuration for the common headers, Romanian and English (see HEADERS), matched after
`fold_header` (case, cedilla ş ţ) with diacritics and trailing `?`, `:` and `*` ignored. Each response is an
inbound `form_request` interaction that awaits an answer; answers to questions that are none of the known
fields are kept in the body as `Question: answer` lines. A ticked consent box (any text in the consent
column, except a plain no) opts the email address in, or the phone (sms) when there is no valid email; an
empty box records nothing (it is not an opt-out). With `[forms] confirm = true` an email opt-in is `pending`
until the person clicks the confirmation link (double opt-in). There is no id: a response is keyed by a hash of its
normalised values, so a sheet downloaded again, or re-saved by Excel, repeats nothing.

`requests_from_fields` is shared with `[mappings.<name>]` sections whose target is interactions.
"""
from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

import polars as pl
from legatura.transforms.channels import ParseResult
from legatura.transforms.text import (
    decode_text,
    fold_header,
    normalise_email,
    normalise_phones,
    parse_local_time,
    parse_offset_time,
    quarantined,
    read_export,
    row_hash,
    sniff_delimiter,
    valid_email,
)

if TYPE_CHECKING:
    from legatura.flows.config import Settings

TIMESTAMP_HEADERS = {"timestamp", "marcaj de timp", "marcaj temporal", "submitted at", "submission date"}
HEADERS = {
    "full_name": {"nume si prenume", "numele si prenumele", "nume complet", "numele complet", "numele dumneavoastra",
                  "name", "full name", "your name"},
    "first_name": {"prenume", "prenumele", "first name"},
    "last_name": {"last name", "surname", "family name"},
    "email": {"adresa de email", "adresa de e-mail", "adresa email", "email", "e-mail", "email address",
              "e-mail address", "your email"},
    "phone": {"telefon", "numar de telefon", "nr. de telefon", "nr. telefon", "telefon mobil", "phone",
              "phone number", "mobile", "mobile phone", "telephone"},
    "subject": {"cum va putem ajuta", "subiect", "subiectul", "subject", "how can we help", "topic"},
    "body": {"mesajul dumneavoastra", "mesajul", "mesaj", "message", "your message", "comments", "comentarii"},
}
CONSENT_WORDS = ("sunt de acord", "consent", "agree", "gdpr")
# a ticked box holds the option's text; these answers are a plain "no", which opts nobody in
NOT_TICKED = {"", "nu", "no", "false", "0", "n", "nu sunt de acord"}
# English Google Forms writes 1/5/2026 9:12:44 (M/D, unpadded); a Romanian or British sheet 05/01/2026 09:12:44
TIME_FORMATS_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
                          "%d/%m/%Y", "%d.%m.%Y")
TIME_FORMATS_MONTH_FIRST = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")
ISO_RE = r"^\s*\d{4}-\d{2}-\d{2}"
UNPADDED_RE = r"^\s*\d/|^\s*\d{1,2}/\d/|\s\d:"


class NotAFormsExport(Exception):
    """The file has no Timestamp column or no column that says who wrote (email or phone)."""


def plain_header(name: str) -> str:
    """A header as matched: folded, without diacritics, inner spaces collapsed, trailing ?:* dropped."""
    folded = unicodedata.normalize("NFD", fold_header(name))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", folded).strip(" ?:*\t")


def recognise_headers(columns: list[str]) -> dict[str, str]:
    """Canonical field -> column for the headers this preset knows (first column wins)."""
    found: dict[str, str] = {}
    plains = {c: plain_header(c) for c in columns}
    has_first_name = any(p in HEADERS["first_name"] for p in plains.values())
    for column, plain in plains.items():
        if plain in TIMESTAMP_HEADERS:
            field = "timestamp"
        elif any(word in plain for word in CONSENT_WORDS):
            field = "consent"
        elif plain in ("nume", "numele"):
            field = "last_name" if has_first_name else "full_name"
        else:
            field = next((f for f, names in HEADERS.items() if plain in names), None)
        if field and field not in found:
            found[field] = column
    return found


def detect(name: str, head: bytes) -> bool:
    first = decode_text(head.split(b"\n", 1)[0])[0].lstrip("\ufeff")
    columns = [c.strip().strip('"') for c in first.split(sniff_delimiter(first))]
    fields = recognise_headers(columns)
    return "timestamp" in fields and ("email" in fields or "phone" in fields)


def guess_time_format(values: pl.Series) -> str | None:
    """The strptime format that reads most of these values; None for ISO-8601 (with or without offset)."""
    texts = values.cast(pl.String).str.strip_chars().replace("", None).drop_nulls()
    if texts.len() == 0 or texts.str.contains(ISO_RE).mean() > 0.5:
        return None
    month_first_first = texts.str.contains(UNPADDED_RE).any()
    candidates = (TIME_FORMATS_MONTH_FIRST + TIME_FORMATS_DAY_FIRST if month_first_first
                  else TIME_FORMATS_DAY_FIRST + TIME_FORMATS_MONTH_FIRST)
    scores = [texts.str.strptime(pl.Datetime("us"), f, strict=False).is_not_null().sum() for f in candidates]
    return candidates[max(range(len(candidates)), key=lambda i: (scores[i], -i))]


def parse_time(col: pl.Expr, fmt: str | None, timezone: str) -> pl.Expr:
    """A form's time column to UTC: naive values are local to `timezone`; None = ISO-8601."""
    if fmt is None:
        return parse_offset_time(col, timezone)
    if "%z" in fmt:
        return col.str.strip_chars().str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
    return parse_local_time(col, fmt, timezone)


def ticked(col: pl.Expr, true_values: list[str] | None = None) -> pl.Expr:
    """A checkbox answer that gives consent: one of `true_values`, or else any answer but a plain no."""
    answer = col.str.strip_chars().str.to_lowercase().fill_null("")
    if true_values:
        return answer.is_in([v.strip().lower() for v in true_values])
    return ~answer.is_in(list(NOT_TICKED))


def requests_from_fields(
    fielded: pl.DataFrame, settings: Settings, *, id_prefix: str, source: str, channel: str = "form",
    kind: str = "form_request", direction: str = "inbound", time_label: str = "Timestamp",
    time_format: str | None = None, consent_values: dict[str, tuple[list[str], list[str]]] | None = None,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Interactions, consents and quarantine from a frame of canonical fields (strings).

    `fielded` has record_no, source_line, ragged, occurred_at (UTC) and any of time_text, full_name, email,
    phone, subject, body, consent, consent_email, consent_sms, external_id, campaign. `consent_values`
    gives, per consent field, the answers that opt in (empty: any answer but a plain no) and those that
    opt out (empty: none; an unticked box is no choice).
    """
    consent_values = consent_values or {}
    text = lambda name: (pl.col(name).str.strip_chars().replace("", None) if name in fielded.columns  # noqa: E731
                         else pl.lit(None, pl.String))
    frame = fielded.with_columns(
        email_text=text("email"),
        phone_text=text("phone"),
        email=normalise_email(text("email")),
        phone=normalise_phones(fielded.get_column("phone") if "phone" in fielded.columns
                               else pl.Series([None] * fielded.height, dtype=pl.String)),
        full_name=text("full_name").str.replace_all(r"\s+", " "),
        subject=text("subject"),
        body=text("body").str.strip_chars(),
        time_text=text("time_text"),
    ).with_columns(email=pl.when(valid_email(pl.col("email"))).then(pl.col("email")))
    expected = f" (expected {time_format})" if time_format else ""
    reason = (
        pl.when(pl.col("ragged").is_not_null()).then(pl.col("ragged"))
        .when(pl.col("occurred_at").is_null()).then(pl.format(
            f"{time_label} '{{}}' is not a real date and time{expected}", pl.coalesce("time_text", pl.lit(""))))
        .when(pl.col("email").is_null() & pl.col("phone").is_null() & pl.col("email_text").is_not_null())
        .then(pl.format("email '{}' is not a valid address and there is no phone to know who wrote",
                        pl.col("email_text")))
        .when(pl.col("email").is_null() & pl.col("phone").is_null() & pl.col("phone_text").is_not_null())
        .then(pl.format("phone '{}' is not a phone number and there is no email to know who wrote",
                        pl.col("phone_text")))
        .when(pl.col("email").is_null() & pl.col("phone").is_null()).then(
            pl.lit("no email or phone to know who wrote"))
    )
    frame = frame.with_columns(reason=reason)
    bad = frame.filter(pl.col("reason").is_not_null())
    good = frame.filter(pl.col("reason").is_null())

    key_columns = ["occurred_iso", "full_name", "email", "phone", "subject", "body"]
    keyed = good.with_columns(occurred_iso=pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S"))
    has_external = "external_id" in good.columns
    interaction_id = (
        pl.when(text("external_id").is_not_null()).then(pl.lit(id_prefix) + text("external_id"))
        .otherwise(pl.col("hashed")) if has_external else pl.col("hashed"))
    party = ["record_no", "email", "phone", "full_name"]
    interactions = keyed.with_columns(hashed=row_hash(keyed, key_columns, id_prefix)).select(
        *party, "occurred_at", "subject", "body", "source_line",
        interaction_id=interaction_id,
        external_id=text("external_id"),
        campaign=text("campaign"),
        channel=pl.lit(channel),
        direction=pl.lit(direction),
        kind=pl.lit(kind),
        awaits_answer=pl.lit(direction == "inbound"),
        address=pl.coalesce("email", "phone"),
    )

    def consent_rows(column: str, consent_channel: str, address: pl.Expr, status: str, chosen: pl.Expr):
        if column not in good.columns:
            return []
        return [good.filter(chosen & address.is_not_null()).select(
            *party, channel=pl.lit(consent_channel), address=address, status=pl.lit(status),
            recorded_at=pl.col("occurred_at"), source=pl.lit(source))]

    def both(column: str, email_channel: bool, sms_channel: bool) -> list[pl.DataFrame]:
        consent_true, consent_false = consent_values.get(column, ([], []))
        yes = ticked(pl.col(column), consent_true) if column in good.columns else pl.lit(False)
        no = (pl.col(column).str.strip_chars().str.to_lowercase().is_in([v.strip().lower() for v in consent_false])
              if consent_false and column in good.columns else pl.lit(False))
        parts = []
        for status, chosen in (("opted_in", yes), ("opted_out", no)):
            if email_channel:
                parts += consent_rows(column, "email", pl.col("email"), status, chosen)
            if sms_channel:
                # the generic box covers the phone only when there is no email to write to
                phone = pl.col("phone") if not email_channel else pl.when(pl.col("email").is_null()).then(
                    pl.col("phone"))
                parts += consent_rows(column, "sms", phone, status, chosen)
        return parts

    consents = [*both("consent", True, True), *both("consent_email", True, False),
                *both("consent_sms", False, True)]
    frames = {"interactions": interactions}
    if consents:
        frames["consents"] = pl.concat(consents)
    return frames, bad.select("record_no", "source_line", "reason")


def awaiting_confirmation(frames: dict[str, pl.DataFrame], confirm: bool) -> dict[str, pl.DataFrame]:
    """With `confirm = true` (double opt-in) an email opt-in is recorded `pending` until its link is clicked."""
    if not confirm or "consents" not in frames:
        return frames
    pending = (pl.col("channel") == "email") & (pl.col("status") == "opted_in")
    return {**frames, "consents": frames["consents"].with_columns(
        status=pl.when(pending).then(pl.lit("pending")).otherwise(pl.col("status")))}


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    rows, columns, delimiter = read_export(raw, source)
    fields = recognise_headers(columns)
    if "timestamp" not in fields or not ({"email", "phone"} & set(fields)):
        raise NotAFormsExport(
            f"{source}: not a form response sheet this preset knows: it needs a Timestamp column and an email "
            f"or phone column (headers: {columns}); describe the layout in a [mappings.<name>] section "
            "of legatura.toml (see docs/mappings.md)")
    fmt = guess_time_format(rows.get_column(fields["timestamp"]))
    timezone = settings.organisation.timezone
    known = set(fields.values())
    others = [c for c in columns if c not in known]
    first_last = pl.concat_str([pl.col(fields[f]).str.strip_chars().replace("", None)
                                for f in ("first_name", "last_name") if f in fields], separator=" ",
                               ignore_nulls=True).replace("", None) if {"first_name", "last_name"} & set(fields) \
        else pl.lit(None, pl.String)
    # answers to other questions stay with the request, one "Question: answer" line each
    extra = [pl.when(pl.col(c).str.strip_chars() != "").then(pl.lit(f"{c}: ") + pl.col(c).str.strip_chars())
             for c in others]
    body_parts = ([pl.col(fields["body"]).str.strip_chars().replace("", None)] if "body" in fields else []) + extra
    fielded = rows.select(
        "record_no", "source_line", "ragged",
        time_text=pl.col(fields["timestamp"]),
        occurred_at=parse_time(pl.col(fields["timestamp"]), fmt, timezone),
        full_name=pl.coalesce(pl.col(fields["full_name"]).str.strip_chars().replace("", None), first_last)
        if "full_name" in fields else first_last,
        **{f: pl.col(fields[f]) for f in ("email", "phone", "subject", "consent") if f in fields},
        body=pl.concat_str(body_parts, separator="\n", ignore_nulls=True).replace("", None) if body_parts
        else pl.lit(None, pl.String),
    )
    expected = {None: "an ISO-8601 time"}.get(fmt, fmt.replace("%d", "DD").replace("%m", "MM").replace(
        "%Y", "YYYY").replace("%H", "HH").replace("%M", "MM").replace("%S", "SS") if fmt else None)
    frames, rejected = requests_from_fields(
        fielded, settings, id_prefix="forms:", source="forms", time_label=fields["timestamp"], time_format=expected)
    frames = awaiting_confirmation(frames, settings.forms.confirm)
    return ParseResult(channel="forms", records_read=rows.height, frames=frames,
                       quarantine=quarantined(rejected, columns, delimiter, rows))

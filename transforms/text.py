"""Reading messy real exports: encodings, delimiters, Romanian numbers, phones, emails, local times."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from typing import NamedTuple

import orjson
import phonenumbers
import polars as pl

from .canonical import AMOUNT, UTC

CEDILLA_TO_COMMA = str.maketrans({"ş": "ș", "ţ": "ț", "Ş": "Ș", "Ţ": "Ț"})
# cp1250 prints characters in 0x80-0x9F (€ „ ” – Š ...); ISO-8859-2 has only control codes there
_CP1250_ONLY = re.compile(rb"[\x80-\x9f]")
EMAIL_RE = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,}$"


RAGGED = "__ragged__"  # column added by the CSV readers when a row has extra non-empty fields or too few
_RECORD_TEXT = "__record_text__"  # a malformed row's text exactly as in the file (read_export: record_text)
CUT_SHORT = "(cut short)"   # ends the reason of a row with fewer fields than the header: see flows/resolve.py
# control characters (C0, DEL, C1), line and paragraph separators and bidi controls: a name shown on a
# terminal or in a log line must not start a new line, move the cursor or reverse the text
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_name(value: object) -> str:
    """A file name (or any text) safe to show on one line: control characters escaped as \\n, \\x1b, \\u202e."""
    return _CONTROL.sub(_escaped, str(value))


class UnreadableFile(Exception):
    """The file cannot be read as text or as a table at all."""


class JsonLine(NamedTuple):
    """One non-blank line of a JSON Lines file: its record number, line number, text and decoded value."""

    record_no: int
    line: int
    text: str
    value: object
    error: str | None     # why the line is no JSON (then value is None)


def json_lines(raw: bytes) -> list[JsonLine]:
    """Every non-blank line of a JSON Lines file (webhook payloads, events), decoded one by one, exactly as
    json.loads decodes it: by orjson (several times faster) where it reads the line as json does, by json
    where it might not (see _LONG_NUMBER) or refuses it (NaN, lone surrogates, 1e400, and every error,
    whose message the quarantine keeps)."""
    text, _ = decode_text(raw)
    lines = text.split("\n")
    long_numbers = pl.Series(lines, dtype=pl.String).str.contains(_LONG_NUMBER).to_list()
    found: list[JsonLine] = []
    for number, (line, long_number) in enumerate(zip(lines, long_numbers), start=1):
        line = line.strip("\r")
        if not line.strip():
            continue
        value = _NOT_READ
        if not long_number:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
        try:
            if value is _NOT_READ:
                value = json.loads(line)
            found.append(JsonLine(len(found), number, line, value, None))
        except ValueError as exc:
            found.append(JsonLine(len(found), number, line, None,
                                  f"not a complete JSON object ({exc.msg} at column {exc.colno})"))
    return found


# 19 digits in a row may be an integer past 64 bits, which orjson reads as a float and json as an int
_LONG_NUMBER = "[0-9]{19}"
_NOT_READ = object()


def decode_text(raw: bytes) -> tuple[str, str]:
    """Bytes to text: UTF-8 (with or without BOM), else Windows-1250 / ISO-8859-2 with ş ţ folded to ș ț."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    encoding = "cp1250" if _CP1250_ONLY.search(raw) else "iso-8859-2"
    return raw.decode(encoding, errors="replace").translate(CEDILLA_TO_COMMA), encoding


def fold_header(name: str) -> str:
    """A header as matched: NFC, cedillas folded to commas, trimmed, case-folded."""
    return unicodedata.normalize("NFC", name).translate(CEDILLA_TO_COMMA).strip().casefold()


def sniff_delimiter(text: str) -> str:
    """The header line's most frequent of `,` `;` (Excel in a Romanian locale) and tab (Excel's "Unicode
    text"); `,` on a tie."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {",": first.count(","), ";": first.count(";"), "\t": first.count("\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


class CsvTable(NamedTuple):
    """A parsed CSV export: all-string frame, the 1-based line each record starts on, how it was written."""

    frame: pl.DataFrame
    lines: list[int]
    encoding: str
    delimiter: str


def read_csv_bytes(raw: bytes, source: str) -> CsvTable:
    """Decode (UTF-8 with/without BOM, UTF-16, cp1250, ISO-8859-2) and parse a CSV export.

    Polars reads UTF-8 bytes directly (and refuses invalid UTF-8), so a big UTF-8 export is never
    decoded in Python; anything else is decoded first. Every column is read: Polars' column projection
    would silently drop the extra fields of a ragged row, which must be quarantined instead.
    """
    encoding = "utf-8"
    if raw.startswith(b"\xef\xbb\xbf"):
        raw, encoding = raw[3:], "utf-8-sig"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        raw, encoding = raw.decode("utf-16").encode("utf-8"), "utf-16"
    if not raw or raw.isspace():   # (isspace stops at the first other byte; strip would copy the file)
        raise UnreadableFile(f"{source}: the file is empty")
    if b"\r" in raw and b"\r\n" not in raw:  # old Mac line ends
        raw = raw.replace(b"\r", b"\n")
    first = raw[: raw.find(b"\n")] if b"\n" in raw else raw
    delimiter = sniff_delimiter(first.decode("utf-8", errors="replace"))
    parsed = _read_csv_fast(raw, delimiter)
    if parsed is not None:
        return CsvTable(*parsed, encoding, delimiter)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text, encoding = decode_text(raw)
        text = text.lstrip("\ufeff")
        delimiter = sniff_delimiter(text)
        parsed = _read_csv_fast(text.encode("utf-8"), delimiter)
        if parsed is not None:
            return CsvTable(*parsed, encoding, delimiter)
    return CsvTable(*_read_csv_slow(text.replace("\r\n", "\n"), delimiter, source), encoding, delimiter)


def _read_csv_fast(data: bytes, delimiter: str) -> tuple[pl.DataFrame, list[int]] | None:
    """Polars' reader, when every record is one line (so line numbers are known); else None.

    Polars pads a row with fewer fields than the header with nulls; such a row is found by counting
    delimiters (see `_short_last_row`): when only the last row is short it is marked here, when others are
    the record-by-record reader, which counts every row's fields, reads the file instead.
    """
    try:
        frame = pl.read_csv(data, separator=delimiter, infer_schema=False, quote_char='"',
                            truncate_ragged_lines=False, raise_if_empty=True)
    except Exception:  # noqa: BLE001 - invalid UTF-8, ragged or oddly quoted rows: the caller decides
        return None
    newlines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if newlines != frame.height + 1:
        return None  # line breaks inside fields, or blank lines: the record-by-record reader numbers them
    short = _short_last_row(data, frame, delimiter)
    if short is False:
        return None
    # Polars already reads an empty field as null
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    if short is not None:
        fields, text = short
        last = frame.height - 1
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) == last).then(pl.lit(f"{fields} fields where the header has "
                                                                f"{frame.width} {CUT_SHORT}")).alias(RAGGED),
            pl.when(pl.int_range(pl.len()) == last).then(pl.lit(text)).alias(_RECORD_TEXT))
    # one chunk: Polars 2.1 can panic formatting strings over a filtered multi-chunk frame
    return frame.rechunk(), list(range(2, frame.height + 2))


def _named_width(header: list[str]) -> int:
    """How many fields a complete row has: trailing header cells without a name may be left out."""
    named = len(header)
    while named and not header[named - 1].strip():
        named -= 1
    return named


def _short_last_row(data: bytes, frame: pl.DataFrame, delimiter: str) -> tuple[int, str] | bool | None:
    """None when every row has all its fields; (fields, text) when only the last row is cut short; False
    when other rows are short too.

    A short row is padded, so its last column is null: with no null there, nothing is short. Otherwise the
    delimiters outside quotes are counted (all of them, less those inside the values) and compared with
    what complete rows have; the cost is two passes over the bytes, only for such files.
    """
    if frame.height == 0 or frame.get_column(frame.columns[-1]).null_count() == 0:
        return None
    outside = data.count(delimiter.encode())
    if b'"' in data:
        inside = frame.select(pl.all().str.count_matches(delimiter, literal=True).sum()).sum_horizontal().item()
        outside -= inside + sum(name.count(delimiter) for name in frame.columns)
    deficit = (frame.width - 1) * (frame.height + 1) - outside
    if deficit <= 0:
        return None
    body = data[:-1] if data.endswith(b"\n") else data
    text = body[body.rfind(b"\n") + 1:].decode("utf-8", errors="replace").removesuffix("\r")
    header_end = data.find(b"\n")
    header = next(csv.reader([data[:header_end].decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")],
                             delimiter=delimiter, quotechar='"'))
    fields = len(next(csv.reader([text], delimiter=delimiter, quotechar='"'), []))
    if frame.width - fields != deficit:
        return False
    return (fields, text) if fields < _named_width(header) else None


def _read_csv_slow(text: str, delimiter: str, source: str) -> tuple[pl.DataFrame, list[int]]:
    """Record-by-record reading: multi-line fields and ragged rows, keeping each record's start line."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"')
    try:
        header = next(reader)
    except StopIteration:
        raise UnreadableFile(f"{source}: the file is empty") from None
    header = [h.lstrip("\ufeff").strip() for h in header]
    named = _named_width(header)
    rows, lines, ragged, spans = [], [], [], []
    start = reader.line_num + 1
    for row in reader:
        if row:  # blank lines are not records
            extra = [v for v in row[len(header):] if v.strip()]
            if extra:
                ragged.append(f"{len(row)} fields where the header has {len(header)}")
            elif len(row) < named:  # fewer delimiters than the header: the row was cut
                ragged.append(f"{len(row)} fields where the header has {len(header)} {CUT_SHORT}")
            else:
                ragged.append(None)
            spans.append((start, reader.line_num))
            rows.append((row + [""] * len(header))[: len(header)])
            lines.append(start)
        start = reader.line_num + 1
    columns = {name: [r[i] for r in rows] for i, name in enumerate(header)}
    frame = _empty_as_null(pl.DataFrame(columns, schema={h: pl.String for h in header}))
    if any(ragged):
        # a row with more (non-empty) fields than the header, or fewer: presets quarantine it (RAGGED column)
        physical = text.split("\n")
        texts = ["\n".join(physical[first - 1:last]) if reason else None
                 for reason, (first, last) in zip(ragged, spans)]
        frame = frame.with_columns(pl.Series(RAGGED, ragged, dtype=pl.String),
                                   pl.Series(_RECORD_TEXT, texts, dtype=pl.String))
    return frame, lines


def _empty_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    """An empty field is a missing value, whichever reader produced it."""
    return frame.with_columns(pl.when(pl.all().str.len_bytes() > 0).then(pl.all()))


def normalise_email(col: pl.Expr) -> pl.Expr:
    """Trimmed, lower-cased email; null when empty. Validity is checked separately (`valid_email`)."""
    cleaned = col.str.strip_chars().str.to_lowercase()
    return pl.when(cleaned.str.len_chars() > 0).then(cleaned).otherwise(None)


def valid_email(col: pl.Expr) -> pl.Expr:
    return col.str.contains(EMAIL_RE)


def _e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# a Romanian number already in E.164: phonenumbers gives it back unchanged, whatever the default region
# (+40, then nine digits not starting with 0: a length RO numbers have, no national prefix to strip);
# tests/test_text.py holds this against phonenumbers itself over many numbers, valid and not
_E164_RO = r"^\+40[1-9][0-9]{8}$"


def normalise_phones(values: pl.Series, region: str = "RO") -> pl.Series:
    """Phone numbers in any Romanian or international format to E.164 (null when not a phone).

    Parsed once per distinct value with the phonenumbers library, but for Romanian numbers already in
    E.164 (most of them, from Twilio and the like), which are their own answer.
    """
    stripped = values.cast(pl.String).str.strip_chars()
    canonical = stripped.str.contains(_E164_RO).fill_null(False)
    others = stripped.filter(~canonical).drop_nulls().unique()
    mapping = {v: _e164(v, region) for v in others.to_list() if v}
    parsed = (stripped.replace_strict(mapping, default=None, return_dtype=pl.String) if mapping
              else pl.Series(values.name, [None] * len(values), dtype=pl.String))
    return stripped.zip_with(canonical, parsed)


# an amount once grouping is gone: digits, at most two decimals (trailing zeros aside), no exponent
_AMOUNT_TEXT = r"^[+-]?\d{1,16}(\.\d{1,2}0*)?$"


def parse_number(col: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """'1.234,50' / '2,500.00' / '25.00' / '-43,47' to Float64 (null when not a number); for quantities
    such as hours. Money goes through `parse_amount`, never through a float.

    Worked out once per distinct value: exports repeat the same few amounts many times.
    """
    return col.map_batches(lambda values: _by_value(values, _number_text(pl.col("v"), decimal_comma)
                                                    .cast(pl.Float64, strict=False)), return_dtype=pl.Float64)


def parse_amount(col: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """'1.234,50' / '2,500.00' / '25.00' / '-43,47' to an exact Decimal(18, 2) (null when not an amount
    of at most two decimals: '12.345' or '1e3' is refused, never rounded or truncated)."""
    def exact(text: pl.Expr) -> pl.Expr:
        return pl.when(text.str.contains(_AMOUNT_TEXT)).then(text).cast(AMOUNT, strict=False)

    return col.map_batches(lambda values: _by_value(values, exact(_number_text(pl.col("v"), decimal_comma))),
                           return_dtype=AMOUNT)


def amount_key(col: pl.Expr) -> pl.Expr:
    """An amount as text the way record keys have always spelled it ('40.0', '12.5', '12.34': the shortest
    form, as the float it once was), so keys made before amounts were exact stay the same."""
    return col.cast(pl.String).str.replace(r"(\.\d)0$", "${1}")


def _by_value(values: pl.Series, parsed: pl.Expr) -> pl.Series:
    """`parsed` (an expression of column v) worked out once per distinct value, then spread back."""
    uniques = values.unique().drop_nulls().to_frame("v").with_columns(n=parsed)
    return values.to_frame("v").join(uniques, on="v", how="left", maintain_order="left").get_column("n")


def _number_text(col: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """A number as written in an export, as plain text: '1.234,50' -> '1234.50' (grouping gone, '.' decimal)."""
    s = col.str.strip_chars().str.replace_all(r"[\s\u00a0]", "")
    has_dot, has_comma = s.str.contains(r"\."), s.str.contains(",")
    last_is_comma = s.str.contains(r",\d*$") & has_dot
    both = has_dot & has_comma
    if decimal_comma:
        only_comma = s.str.replace_all(",", ".")
        # '5.000' in a decimal-comma file is five thousand
        only_dot = pl.when(s.str.contains(r"^-?\d{1,3}(\.\d{3})+$")).then(s.str.replace_all(r"\.", "")).otherwise(s)
    else:
        only_comma = pl.when(s.str.contains(r"^-?\d{1,3}(,\d{3})+$")).then(s.str.replace_all(",", "")).otherwise(
            s.str.replace_all(",", "."))
        only_dot = s
    text = (
        pl.when(both & last_is_comma).then(s.str.replace_all(r"\.", "").str.replace_all(",", "."))
        .when(both).then(s.str.replace_all(",", ""))
        .when(has_comma).then(only_comma)
        .otherwise(only_dot)
    )
    return text


def parse_local_time(col: pl.Expr, fmt: str, timezone: str) -> pl.Expr:
    """Naive local timestamps in `timezone` to UTC instants (null when unparseable)."""
    return (
        col.str.strip_chars()
        .str.strptime(pl.Datetime("us"), fmt, strict=False)
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def parse_utc_time(col: pl.Expr, fmt: str) -> pl.Expr:
    """Naive timestamps that are UTC (Stripe's '(UTC)' columns, Mailchimp) to UTC instants."""
    return col.str.strip_chars().str.strptime(pl.Datetime("us"), fmt, strict=False).dt.replace_time_zone("UTC")


def parse_offset_time(col: pl.Expr, timezone: str) -> pl.Expr:
    """ISO-like timestamps with or without an offset; naive ones are local to `timezone`."""
    s = col.str.strip_chars().str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    aware = pl.coalesce(
        [s.str.strptime(pl.Datetime("us", "UTC"), f, strict=False) for f in ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z")]
    )
    naive = pl.coalesce(
        [s.str.strptime(pl.Datetime("us"), f, strict=False) for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")]
    ).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    return pl.coalesce([aware.dt.convert_time_zone("UTC"), naive]).cast(UTC)


def row_hash(frame: pl.DataFrame, columns: list[str], prefix: str) -> pl.Series:
    """A stable key for records without an id: sha1 of the normalised values, prefixed.

    hashlib, not Polars' hash: that one may change between Polars releases, and a key that changes
    would load every record again.
    """
    joined = frame.select(
        pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in columns], separator="\x1f")
    ).to_series()
    return pl.Series([f"{prefix}{hashlib.sha1(v.encode()).hexdigest()[:20]}" for v in joined], dtype=pl.String)


def raw_lines(frame: pl.DataFrame, delimiter: str = ",") -> pl.Series:
    """Each record re-joined as text, for the quarantine's `raw` column."""
    return frame.select(
        pl.concat_str([pl.col(c).fill_null("") for c in frame.columns], separator=delimiter)
    ).to_series()


def read_export(raw: bytes, source: str) -> tuple[pl.DataFrame, list[str], str]:
    """A CSV export as a frame of its string columns plus record_no, source_line, `ragged` (the reason a row
    has more fields than the header, or fewer: cut short, else null) and `record_text` (such a row's text as
    in the file, else null); also the data columns and the delimiter.

    Shared by the CSV presets: each puts `ragged` first among its reasons to quarantine a record. A row with
    every delimiter and empty values (trailing commas) is complete; a row with fewer delimiters is cut.
    """
    table = read_csv_bytes(raw, source)
    rows = table.frame
    columns = [c for c in rows.columns if c not in (RAGGED, _RECORD_TEXT)]
    frame = rows.with_row_index("record_no").with_columns(
        record_no=pl.col("record_no").cast(pl.Int64),
        source_line=pl.Series(table.lines, dtype=pl.Int64).cast(pl.String),
        ragged=(pl.format("the row has {}", pl.col(RAGGED)) if RAGGED in rows.columns
                else pl.lit(None, pl.String)),
        record_text=pl.col(_RECORD_TEXT) if _RECORD_TEXT in rows.columns else pl.lit(None, pl.String),
    )
    return frame.drop(RAGGED, _RECORD_TEXT, strict=False), columns, table.delimiter


def record_texts(frame: pl.DataFrame, columns: list[str], delimiter: str) -> pl.Series:
    """Each record's text for quarantine.raw: as in the file for a malformed row, else its fields re-joined."""
    joined = raw_lines(frame.select(columns), delimiter)
    if "record_text" not in frame.columns:
        return joined
    return frame.get_column("record_text").fill_null(joined).alias(joined.name)


def quarantined(rejected: pl.DataFrame, columns: list[str], delimiter: str,
                rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Quarantine rows (record_no, line_or_key, reason, raw) of rejected records, raw as in the file.

    `rejected` has source_line and reason, and either the file's columns or record_no to find them in `rows`.
    """
    if rows is not None:
        kept = [c for c in ("record_text",) if c in rows.columns]
        rejected = rejected.select("record_no", "source_line", "reason").join(
            rows.select("record_no", *columns, *kept), on="record_no", how="left", maintain_order="left")
    return rejected.select("record_no", line_or_key=pl.col("source_line"), reason=pl.col("reason"),
                           raw=record_texts(rejected, columns, delimiter))


MIN_CUT_TEXT = 8   # a shorter cut-off row says too little to be matched to a complete one


def completed_records(cut: list[str], text: str) -> dict[int, int]:
    """For each cut-off record text, the 1-based line of `text` that completes it: the one line that starts
    with it and goes on. Ambiguous or too short texts match nothing."""
    found: dict[int, int] = {}
    haystack = "\n" + text
    for index, record in enumerate(cut):
        record = record.removesuffix("\r")
        if len(record) < MIN_CUT_TEXT:
            continue
        needle, lines, at = "\n" + record, [], haystack.find("\n" + record)
        while at >= 0 and len(lines) < 2:
            end = haystack.find("\n", at + 1)
            line = haystack[at + 1:end if end >= 0 else None].removesuffix("\r")
            if line != record:
                lines.append(haystack.count("\n", 0, at) + 1)
            at = haystack.find(needle, at + 1)
        if len(lines) == 1:
            found[index] = lines[0]
    return found

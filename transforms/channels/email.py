"""RFC 5322 mail: one message (.eml, a Maildir file) or an mbox (Gmail Takeout, Thunderbird, mboxrd).

Every message becomes one `interactions` row or one quarantine row. Decisions:

* Direction: From one of the NGO's addresses (`organisation.domains`, `organisation.email`) is
  outbound, anything else inbound. Bounces (delivery reports) are always inbound.
* Kind: `bounce` (a report of a permanent delivery failure) or `soft_bounce` (temporary, or the report
  does not say), recognised by transforms/bounces.py with flufl.bounce: DSNs, MAILER-DAEMON / postmaster
  / null-sender reports, the common non-standard formats; a null or odd sender and a missing Date do not
  quarantine a bounce. `unsubscribe` (a mail to our mailto link: subject `unsubscribe-TOKEN` with a
  valid signed token; it records the opt-out), `auto_reply` (`tracking.is_auto_reply` headers, or any
  other multipart/report such as a read receipt), `internal`, else `message`. Bounces, unsubscribes and
  auto-replies never await an answer; a bounce's In-Reply-To is the Message-ID of the message it returns.
* Party: the sender of an inbound message; for an outbound one the first address in To, then
  Cc, then Bcc that is not the NGO's own; for a bounce, the recipient whose delivery failed (the MTA
  that wrote it is never a contact).
  Mail from the NGO to nobody but itself is kept as an outbound `internal` interaction with no
  party (nothing is lost, nobody becomes a contact, nothing awaits an answer).
* Key: `email:<Message-ID>` with the id as written (no angle brackets, case kept: it is
  compared literally, like In-Reply-To and References are); `external_id` is the Message-ID.
  A message without one is keyed by a hash of its normalised From, To, Date, Subject and body,
  so the same message from an mbox and as an .eml is one row.
* Threading: `thread_ref` is the root of References, else In-Reply-To, else the message's own
  id, so a thread stays one thread whichever container a message came from (X-GM-THRID exists
  only in Gmail exports; it is used only for a message with no Message-ID).
* Time: the Date header (an offset or a known zone name; `(EEST)` comments ignored; naive ones
  are local to `organisation.timezone`); else the mbox separator's time (local unless it has an
  offset, as Gmail's +0000), the newest Received header, or a Maildir file name's delivery epoch;
  else the message is quarantined.
* Text: headers decoded from RFC 2047 (raw 8-bit headers as UTF-8, else ISO-8859-2/cp1250);
  body = the first inline text/plain part, else the first text/html part without its tags,
  decoded with its charset (a wrong or unknown label falls back to UTF-8, then the Romanian
  legacy code pages). Text from ISO-8859-2/cp1250, which cannot hold ș ț, gets them folded
  from the cedilla forms.
"""
from __future__ import annotations

import codecs
import html
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser, Parser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import PurePath
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

import polars as pl
from legatura.transforms import bounces
from legatura.transforms.canonical import TABLES
from legatura.transforms.channels import QUARANTINE_SCHEMA, ParseResult
from legatura.transforms.text import CEDILLA_TO_COMMA, EMAIL_RE, decode_text, row_hash
from legatura.transforms.tokens import BadToken, LinkToken, Signer
from legatura.transforms.tracking import is_auto_reply

if TYPE_CHECKING:
    from legatura.flows.config import Settings

MAX_MIME_DEPTH = 20
RAW_LIMIT = 10 * 1024          # bytes of a quarantined message kept in quarantine.raw
_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# `From <sender> <asctime>`: Gmail adds an offset before the year, Thunderbird writes `From - `
SEPARATOR = re.compile(
    rb"^From [^\r\n]*?(?P<asctime>(?:" + _DAYS.encode() + rb") +(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2})"
    rb" +(?P<hh>\d{1,2}):(?P<mi>\d{2})(?::(?P<ss>\d{2}))?(?: +(?P<off>[+-]\d{4}|[A-Z]{1,5}))? +(?P<year>\d{4}))"
    rb"[ \t]*\r?$", re.M)
FIELD_NAME = re.compile(rb"[!-9;-~]+")
HEADER_FROM = re.compile(rb"From[ \t]*:")      # obsolete `From :` header syntax, not a separator
QUOTED_FROM = re.compile(rb"^>(>*From )", re.M)
DATE = re.compile(
    r"^\s*(?:[A-Za-z]+,?\s*)?(\d{1,2})[\s-]+([A-Za-z]{3})[a-z]*\.?[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:\.\d+)?\s*(?:([+-]\d{2}:?\d{2})|\(?([A-Za-z]{1,5})\)?)?")
# zone names seen in Date headers; numeric offsets win over a trailing comment
ZONES = {"ut": 0, "utc": 0, "gmt": 0, "z": 0, "wet": 0, "bst": 60, "west": 60, "cet": 60, "cest": 120,
         "eet": 120, "eest": 180, "msk": 180, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
         "mst": -420, "mdt": -360, "pst": -480, "pdt": -420}
SIMPLE_ADDRESS = re.compile(r'^\s*(?:([^<>",;:()\\]*?)\s*<\s*([^<>\s",;:()\\]+)\s*>|([^<>\s",;:()\\]+))\s*$')
GUESSED_BOUNDARY = re.compile(r"^--(\S+?)(?:--)?[ \t]*\r?$", re.M)
MESSAGE_ID_LINE = re.compile(r"(?im)^message-id:\s*<?\s*([^<>\s]+)")
MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
MAILDIR_NAME = re.compile(r"^(\d{9,10})\.")
HTML_DROP = re.compile(r"(?is)<(script|style|head)\b.*?</\1\s*>|<!--.*?-->")
HTML_BREAK = re.compile(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h\d|blockquote)\s*>")
HTML_TAG = re.compile(r"<[^>]*>")
BLANK_LINES = re.compile(r"\n[ \t\u00a0]*(?:\n[ \t\u00a0]*)+\n")
VALID_EMAIL = re.compile(EMAIL_RE)
LEGACY_CODECS = {"iso8859-2", "cp1250"}   # cannot encode ș ț: senders typed ş ţ
UNSUBSCRIBE_SUBJECT = re.compile(r"(?i)\bunsubscribe-([A-Za-z0-9_.-]{20,})")
COLUMNS = {name: TABLES["interactions"][name] for name in (
    "interaction_id", "channel", "direction", "kind", "occurred_at", "subject", "body", "external_id",
    "thread_ref", "in_reply_to", "references", "is_auto_reply", "awaits_answer", "address",
    "source_line", "email", "full_name", "contact_kind")}


class NotAnEmailFile(Exception):
    """The file holds no mail message at all (empty)."""


class RejectedMessage(Exception):
    """One message cannot be loaded; the text is the quarantine reason."""


def detect(name: str, head: bytes) -> bool:
    """An .eml/.mbox name, an mbox separator, or a header block with From and Date/Message-ID."""
    if name.lower().endswith((".eml", ".mbox", ".mbx")):
        return True
    lines = head.lstrip(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").split(b"\n")
    if lines[0].startswith(b"From "):
        if SEPARATOR.match(lines[0]):
            return True
        lines = lines[1:]
    fields = set()
    for line in lines:
        if not line:
            break
        if line[:1] in b" \t":
            continue
        field, colon, _ = line.partition(b":")
        if not colon or not FIELD_NAME.fullmatch(field):
            return False
        fields.add(field.lower())
    return b"from" in fields and bool(fields & {b"date", b"message-id", b"received"})


def parse(raw: bytes, source: str, settings: Settings) -> ParseResult:
    """Each message to an `interactions` row (or a quarantine row with its reason and line)."""
    if not raw.strip():
        raise NotAnEmailFile(f"{source}: the file is empty, there is no message in it")
    context = _Context(settings, source)
    rows: list[dict] = []
    rejected: list[dict] = []
    messages = split_mbox(raw, context.local_zone)
    for record_no, message in enumerate(messages):
        try:
            row = read_message(message.raw, message.separator_time, context)
        except RejectedMessage as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - one unreadable message never stops the file
            reason = f"the message cannot be read ({type(exc).__name__}: {exc})"
        else:
            row["record_no"] = record_no
            row["source_line"] = str(message.line) if message.in_mbox else (row["external_id"] or "1")
            rows.append(row)
            continue
        key = str(message.line) if message.in_mbox else _key_of(message.raw)
        rejected.append({"record_no": record_no, "line_or_key": key, "reason": reason, "raw": _raw_text(message.raw)})
    frames = {"interactions": _interactions_frame(rows)}
    opted_out = [{"record_no": r["record_no"], "channel": t.channel, "address": t.address, "status": "opted_out",
                  "recorded_at": r["occurred_at"], "source": "unsubscribe:mailto", "email": t.address}
                 for r in rows if (t := r["_unsubscribe"]) is not None]
    if opted_out:
        frames["consents"] = pl.DataFrame(opted_out, schema={
            "record_no": pl.Int64, "channel": pl.String, "address": pl.String, "status": pl.String,
            "recorded_at": TABLES["consents"]["recorded_at"], "source": pl.String, "email": pl.String})
    return ParseResult(
        channel="email",
        records_read=len(messages),
        frames=frames,
        quarantine=pl.DataFrame(rejected, schema=QUARANTINE_SCHEMA),
    )


class _Context:
    """What every message of one file is read against: the NGO's own addresses, the local zone."""

    def __init__(self, settings: Settings, source: str):
        org = settings.organisation
        self.own_domains = settings.own_email_domains
        self.own_address = org.email.strip().lower()
        self.local_zone = ZoneInfo(org.timezone)
        found = MAILDIR_NAME.match(PurePath(source).name)
        # a Maildir file name starts with the delivery time: the last resort for a message's time
        self.delivered_at = datetime.fromtimestamp(int(found.group(1)), timezone.utc) if found else None
        secret = settings.tokens.secret.get_secret_value()
        self.unsubscribe_signer = Signer(secret, "unsubscribe", settings.tokens.unsubscribe_days) if secret else None

    def unsubscribe_request(self, subject: str) -> LinkToken | None:
        """The signed token of a mailto unsubscribe (`subject=unsubscribe-TOKEN`), when valid."""
        found = UNSUBSCRIBE_SUBJECT.search(subject) if self.unsubscribe_signer and subject else None
        if not found:
            return None
        try:
            return self.unsubscribe_signer.check(found.group(1))
        except BadToken:
            return None     # forged or expired: an ordinary message, a person may be asking something

    def is_own(self, address: str) -> bool:
        return address == self.own_address or address.rpartition("@")[2] in self.own_domains


# --- containers ------------------------------------------------------------------------------

class MailboxMessage(NamedTuple):
    raw: bytes
    line: int                          # 1-based line of its mbox separator (1 for a single message)
    separator_time: datetime | None    # the time on the separator line
    in_mbox: bool


def split_mbox(raw: bytes, local_zone: tzinfo = timezone.utc) -> list[MailboxMessage]:
    """The messages of a file: an mbox when its first line starts with "From ", else one message.

    Only lines that look like a real separator (`From <who> <asctime>`) split messages, so an
    unquoted "From " in a body does not; mboxrd `>From ` quoting is undone.
    """
    if not raw.startswith(b"From ") or HEADER_FROM.match(raw):
        return [MailboxMessage(raw, 1, None, False)]
    bounds = [(0, SEPARATOR.match(raw))] + [(m.start(), m) for m in SEPARATOR.finditer(raw) if m.start() > 0]
    messages = []
    line, counted_to = 1, 0
    for i, (start, match) in enumerate(bounds):
        line += raw.count(b"\n", counted_to, start)
        counted_to = start
        body_start = raw.find(b"\n", start)
        body_start = len(raw) if body_start < 0 else body_start + 1
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(raw)
        chunk = raw[body_start:end]
        if b">From " in chunk:
            chunk = QUOTED_FROM.sub(rb"\1", chunk)
        messages.append(MailboxMessage(chunk, line, _separator_time(match, local_zone), True))
    return messages


def _separator_time(match: re.Match | None, local_zone: tzinfo) -> datetime | None:
    """The asctime of a separator (Gmail adds +0000; without an offset it is local time); None when absent."""
    if match is None:
        return None
    g = {k: (v.decode() if v else None) for k, v in match.groupdict().items()}
    try:
        month = _MONTHS.index(g["mon"].lower()) + 1
        when = datetime(int(g["year"]), month, int(g["day"]), int(g["hh"]), int(g["mi"]), int(g["ss"] or 0))
    except ValueError:
        return None
    minutes = _offset_minutes(g["off"]) if g["off"] else None
    if minutes is None:     # no offset (Thunderbird, local delivery): local to the NGO, as DESIGN says
        return when.replace(tzinfo=local_zone).astimezone(timezone.utc)
    return when.replace(tzinfo=timezone(timedelta(minutes=minutes))).astimezone(timezone.utc)


# --- one message ----------------------------------------------------------------------------

def read_message(chunk: bytes, envelope_time: datetime | None, context: _Context) -> dict:
    """The interactions row of one message; RejectedMessage when it cannot be loaded."""
    found = HEADER_FROM.match(chunk)
    if found:   # the stdlib takes a first line `From ...` for an mbox separator and drops it
        chunk = b"From:" + chunk[found.end():]
    # headers only: message_body splits multiparts itself (the stdlib compiles a regex per boundary)
    msg = BytesParser(policy=compat32).parsebytes(chunk, headersonly=True)
    pairs = list(msg.raw_items())
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name.strip().lower(), value)

    sender_field = headers.get("from") or headers.get("sender")
    if sender_field is None and not headers:
        raise RejectedMessage("not a mail message: no header lines at its start")
    senders = _addresses(sender_field) if sender_field else []
    sender_name, sender = senders[0] if senders and VALID_EMAIL.match(senders[0][1]) else (None, None)
    message_id = _first_id(headers.get("message-id"))
    subject = _clean(_header_text(headers.get("subject")))
    bounce = _bounce_report(msg, chunk, headers, subject, sender_field, message_id, pairs)
    if bounce is None and sender_field is None:
        raise RejectedMessage("no From header: the sender is unknown")
    if bounce is None and sender is None:
        raise RejectedMessage(f"From header '{_header_text(sender_field)}' has no valid email address")
    recipients = [a for f in ("to", "cc", "bcc") if f in headers for a in _addresses(headers[f])]
    recipients = [(n, a) for n, a in recipients if VALID_EMAIL.match(a)]

    occurred_at = (_date_header(headers.get("date"), context.local_zone)
                   or envelope_time
                   or _received_time(msg, context.local_zone) or context.delivered_at)
    if occurred_at is None and bounce is not None:
        # a bounce with no usable Date is still a bounce: its report's arrival, else when we read it
        occurred_at = _date_header(bounce.arrival, context.local_zone) or datetime.now(timezone.utc)
    if occurred_at is None:
        date = headers.get("date")
        raise RejectedMessage(f"Date header '{_header_text(date)}' is not a valid date" if date
                              else "no Date header and no other time (mbox separator, Received) to use")

    report = msg.get_content_type() == "multipart/report"
    automatic = bounce is not None or report or is_auto_reply(pairs)
    own_sender = sender is not None and context.is_own(sender)
    others = [(n, a) for n, a in recipients if not context.is_own(a)]
    references = _all_ids(headers.get("references"))
    in_reply_to = _first_id(headers.get("in-reply-to"))
    unsubscribe = None
    if bounce is not None:
        # the MTA that wrote the report is nobody: the report is about the recipient that failed
        direction, kind = "inbound", "bounce" if bounce.severity == "hard" else "soft_bounce"
        failed = bounce.recipient
        party_name, party = None, (failed if failed and not context.is_own(failed) else None)
        address = failed
        in_reply_to, references = bounce.original_message_id, []
    elif own_sender:
        direction, kind = "outbound", "auto_reply" if automatic else ("message" if others else "internal")
        party_name, party = others[0] if others else (None, None)
        address = party or (recipients[0][1] if recipients else None)
    else:
        direction, kind = "inbound", "auto_reply" if automatic else "message"
        party_name, party, address = sender_name, sender, sender
        unsubscribe = None if automatic else context.unsubscribe_request(subject)
        if unsubscribe is not None:
            kind = "unsubscribe"

    return {
        "interaction_id": f"email:{message_id}" if message_id else None,
        "channel": "email",
        "direction": direction,
        "kind": kind,
        "occurred_at": occurred_at,
        "subject": subject or None,
        "body": message_body(msg),
        "external_id": message_id,
        "thread_ref": (references[0] if references else None) or in_reply_to or message_id
                      or _clean(_header_text(headers.get("x-gm-thrid"))) or None,
        "in_reply_to": in_reply_to,
        "references": references,
        "is_auto_reply": automatic,
        "awaits_answer": direction == "inbound" and not automatic and unsubscribe is None,
        "address": address,
        "email": party,
        "full_name": _person_name(party_name) if party else None,
        "contact_kind": "person" if party else None,
        # hashed into the key of a message without Message-ID (dropped before the frame is returned)
        "_sender": sender,
        "_recipients": ",".join(sorted(a for _, a in recipients)),
        "_unsubscribe": unsubscribe,
    }


def _addresses(field: str) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs of an address header, names still encoded."""
    field = _unfold(field)
    if _has_surrogates(field):
        field = _bytes_text(field.encode("ascii", "surrogateescape"), None)
    # the common `Name <a@b>, c@d` without quotes or comments is read directly (getaddresses is slow)
    simple = [SIMPLE_ADDRESS.match(item) for item in field.split(",")] if '"' not in field else [None]
    if all(simple):
        pairs = [(m.group(1) or "", m.group(2) or m.group(3)) for m in simple]
    else:
        pairs = getaddresses([field])
    return [(name, address.strip().lower()) for name, address in pairs if address and address.strip()]


def _person_name(name: str | None) -> str | None:
    text = _clean(_header_text(name)).strip("'\" ") if name else ""
    return text if text and "@" not in text else None


def _first_id(field: str | None) -> str | None:
    ids = _all_ids(field)
    return ids[0] if ids else None


def _all_ids(field: str | None) -> list[str]:
    """Message-IDs without angle brackets, in order; a bare id without brackets is taken as it is."""
    if not field:
        return []
    field = _header_text(field)
    found = MSG_ID.findall(field)
    if not found:
        found = [token.strip("<>,;") for token in field.split() if "@" in token]
    return [_clean(i) for i in found if i.strip()]


def _bounce_report(msg: Message, chunk: bytes, headers: dict[str, str], subject: str, sender_field: str | None,
                   message_id: str | None, pairs: list) -> bounces.BounceReport | None:
    """The bounce this message reports (flufl.bounce's detectors), or None when it is no bounce."""
    ctype = msg.get_content_type()
    # only a report needs its parameters parsed (get_param is slow); the sender is looked at as written
    report_type = msg.get_param("report-type") if ctype == "multipart/report" else None
    report_type = str(report_type) if report_type else None
    sender_text = _unfold(sender_field) if sender_field is not None else None
    looked_at = {**headers, "subject": subject}
    if not bounces.is_candidate(looked_at, ctype, report_type, sender_text):
        return None
    full = BytesParser(policy=compat32).parsebytes(chunk)
    # a machine's "could not be delivered" (a virus filter, a gateway) is a bounce too, never a contact
    strong = bounces.strong_signs(looked_at, ctype, report_type, sender_text) or (
        bool(bounces.FAILURE_SUBJECT.search(subject)) and is_auto_reply(pairs))
    return bounces.read_report(full, message_id, strong, _failed_recipient(full, headers))


def _failed_recipient(msg: Message, headers: dict[str, str]) -> str | None:
    """The address a bounce is about: Final-/Original-Recipient of the report, or X-Failed-Recipients."""
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            for field in ("Final-Recipient", "Original-Recipient"):
                value = block.get(field)
                address = str(value).rpartition(";")[2].strip().strip("<>").lower() if value else ""
                if VALID_EMAIL.match(address):
                    return address
    failed = headers.get("x-failed-recipients", "")
    address = _unfold(failed).split(",")[0].strip().lower()
    return address if VALID_EMAIL.match(address) else None


# --- times ----------------------------------------------------------------------------------

def _offset_minutes(text: str) -> int | None:
    if text[0] in "+-":
        digits = text[1:].replace(":", "")
        if len(digits) != 4 or not digits.isdigit():
            return None
        minutes = int(digits[:2]) * 60 + int(digits[2:])
        return -minutes if text[0] == "-" else minutes
    return ZONES.get(text.lower())


def _date_header(value: str | None, local_zone: ZoneInfo) -> datetime | None:
    """An RFC 5322 date (also without weekday, with a zone name or a `(EEST)` comment) in UTC."""
    if not value:
        return None
    found = DATE.match(_unfold(value))
    if not found:
        return None
    day, mon, year, hh, mi, ss, offset, zone = found.groups()
    try:
        month = _MONTHS.index(mon.lower()) + 1
    except ValueError:
        return None
    year_no = int(year)
    if len(year) == 2:
        year_no += 2000 if year_no < 50 else 1900
    try:
        when = datetime(year_no, month, int(day), int(hh), int(mi), int(ss or 0))
    except ValueError:
        return None
    minutes = _offset_minutes(offset or zone) if (offset or zone) else None
    if minutes is None:     # no offset or an unknown zone name: local to the NGO, as DESIGN says
        return when.replace(tzinfo=local_zone).astimezone(timezone.utc)
    return when.replace(tzinfo=timezone(timedelta(minutes=minutes))).astimezone(timezone.utc)


def _received_time(msg: Message, local_zone: ZoneInfo) -> datetime | None:
    """The time on the newest (first) Received header: when the NGO's server took the message."""
    received = msg.get_all("Received") or []
    for value in received:
        when = _date_header(str(value).rpartition(";")[2], local_zone)
        if when:
            return when
    return None


# --- text -----------------------------------------------------------------------------------

def message_body(msg: Message) -> str | None:
    """The first inline text/plain part, else the first text/html part as text; nested multiparts walked."""
    html_part = broken = None
    for part in leaf_parts(msg):
        ctype = part.get_content_type()
        if ctype.startswith("multipart/"):
            broken = broken or part
            continue
        if ctype not in ("text/plain", "text/html"):
            continue
        disposition = str(part.get("Content-Disposition") or "").split(";", 1)[0].strip().lower()
        if disposition == "attachment":
            continue
        if ctype == "text/plain":
            return _tidy(_part_text(part))
        if html_part is None:
            html_part = part
    if html_part is not None:
        return _tidy(html_to_text(_part_text(html_part)))
    if broken is not None:
        # a multipart whose boundary never occurs: keep what can be read of its body
        return _tidy(_part_text(broken))
    return None


def leaf_parts(part: Message, depth: int = 0) -> Iterator[Message]:
    """The non-multipart parts in order (a multipart whose boundary is missing comes out whole)."""
    if part.get_content_maintype() != "multipart" or depth > MAX_MIME_DEPTH:
        yield part
        return
    boundary, payload = part.get_boundary(), part.get_payload()
    if not isinstance(payload, str):
        yield part
        return
    pieces = split_multipart(payload, boundary) if boundary else None
    if pieces is None:
        # a wrong or missing boundary parameter: the first `--token` line is the boundary in use
        guessed = GUESSED_BOUNDARY.search(payload)
        pieces = split_multipart(payload, guessed.group(1)) if guessed else None
    if pieces is None:
        yield part
        return
    for piece in pieces:
        yield from leaf_parts(Parser(policy=compat32).parsestr(piece, headersonly=True), depth + 1)


def split_multipart(body: str, boundary: str) -> list[str] | None:
    """The body parts between `--boundary` lines (RFC 2046 5.1.1); None when the boundary never occurs.

    A missing close delimiter ends the last part at the end of the body, as mail readers do.
    """
    delimiter = "--" + boundary
    pieces: list[str] = []
    start = None
    at = body.find(delimiter)
    while at != -1:
        if at == 0 or body[at - 1] == "\n":
            line_end = body.find("\n", at)
            line_end = len(body) if line_end == -1 else line_end
            rest = body[at + len(delimiter):line_end].rstrip("\r \t")
            if rest in ("", "--"):
                if start is not None:
                    end = at - 1 if at > 0 else 0
                    end -= end > start and body[end - 1] == "\r"
                    pieces.append(body[start:max(end, start)])
                if rest == "--":
                    return pieces
                start = line_end + 1
        at = body.find(delimiter, at + 1)
    if start is None:
        return None
    pieces.append(body[start:])
    return pieces


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if data is None:
        payload = part.get_payload()
        data = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
    return _bytes_text(data, part.get_content_charset())


def _bytes_text(data: bytes, charset: str | None) -> str:
    """Bytes in their declared charset; a wrong or unknown label falls back to UTF-8, then cp1250/ISO-8859-2."""
    if charset:
        try:
            codec = codecs.lookup(charset.strip().strip('"')).name
            text = data.decode(codec)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
        else:
            return text.translate(CEDILLA_TO_COMMA) if codec in LEGACY_CODECS else text
    return decode_text(data)[0]


def html_to_text(markup: str) -> str:
    """Readable text of an HTML mail part: line breaks kept, tags dropped, entities decoded."""
    text = HTML_DROP.sub("", markup)
    text = HTML_BREAK.sub("\n", text.replace("\r\n", "\n").replace("\n", " "))
    return html.unescape(HTML_TAG.sub("", text))


def _tidy(text: str) -> str | None:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = BLANK_LINES.sub("\n\n", "\n".join(line.rstrip() for line in text.split("\n"))).strip()
    return text or None


def _unfold(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\n", "") if "\n" in value else value


def _clean(value: str | None) -> str:
    return " ".join(value.split()) if value else ""


def _has_surrogates(value: str) -> bool:
    return not value.isascii() and any("\udc80" <= ch <= "\udcff" for ch in value)


def _header_text(value: str | None) -> str:
    """A header value as text: unfolded, RFC 2047 encoded-words decoded, raw 8-bit bytes decoded."""
    if not value:
        return ""
    value = _unfold(str(value))
    if _has_surrogates(value):
        value = _bytes_text(value.encode("ascii", "surrogateescape"), None)
    if "=?" not in value:
        return value
    try:
        parts = decode_header(value)
    except Exception:  # noqa: BLE001 - a broken encoded-word stays as written
        return value
    return "".join(p if isinstance(p, str) else _bytes_text(p, charset or "utf-8") for p, charset in parts)


def _key_of(chunk: bytes) -> str:
    """A quarantined single message is named by its Message-ID when it has one."""
    head = chunk.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    found = MESSAGE_ID_LINE.search(head)
    return found.group(1) if found else "1"


def _raw_text(chunk: bytes) -> str:
    """A quarantined message as text for quarantine.raw, cut at RAW_LIMIT bytes."""
    head = chunk[:RAW_LIMIT]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a character cut in two at the limit is still UTF-8; anything else is a legacy code page
        text = head.decode("utf-8", "replace") if exc.start >= len(head) - 3 else decode_text(head)[0]
    return text if len(chunk) <= RAW_LIMIT else f"{text}\n[... truncated: {len(chunk)} bytes in all]"


def _interactions_frame(rows: list[dict]) -> pl.DataFrame:
    schema = {"record_no": pl.Int64, **COLUMNS, "_sender": pl.String, "_recipients": pl.String}
    frame = pl.DataFrame([{k: v for k, v in r.items() if k != "_unsubscribe"} for r in rows], schema=schema)
    missing = frame.filter(pl.col("interaction_id").is_null())
    if missing.height:
        hashable = missing.with_columns(
            _when=pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S"),
            _subject=pl.col("subject").fill_null(""),
            _body=pl.col("body").fill_null("").str.replace_all(r"\s+", " ").str.strip_chars(),
        )
        ids = row_hash(hashable, ["_sender", "_recipients", "_when", "_subject", "_body"], "email:sha1-")
        missing = missing.with_columns(interaction_id=ids).with_columns(
            thread_ref=pl.coalesce("thread_ref", pl.col("interaction_id").str.strip_prefix("email:")))
        frame = pl.concat([frame.filter(pl.col("interaction_id").is_not_null()), missing]).sort("record_no")
    return frame.drop("_sender", "_recipients")

"""Bounce reports in incoming mail: RFC 3464 delivery status notifications and the common non-standard
formats (qmail, Exim, Yahoo, Microsoft, ...), recognised with flufl.bounce (GNU Mailman's detectors).

A message is looked at as a possible bounce when something says so (a multipart/report of delivery
status, an MTA sender such as MAILER-DAEMON or postmaster, a null sender `<>`, X-Failed-Recipients, or
a delivery-failure subject); it is one when the detectors find a failed recipient, or when the strong
signs are there (a DSN, an MTA sender) even if no recipient can be read. Permanent failures are `hard`,
temporary ones (and reports that say neither) `soft`.
"""
from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from typing import NamedTuple

from flufl.bounce import all_failures
from legatura.transforms.text import EMAIL_RE

MTA_SENDER = re.compile(r"(?i)(?:^|[<\s\"'(])(mailer-daemon|mail-daemon|postmaster|mailerdaemon|mdaemon)\b")
FAILURE_SUBJECT = re.compile(
    r"(?i)undeliver|undelivered|delivery status notification|returned mail|failure notice|delivery fail|"
    r"mail delivery (?:failed|failure|system)|non-?deliver|could not be delivered|delivery problem|"
    r"warning: could not send|delayed mail|delivery (?:has been )?delayed|nedeliv|eșec la livrare|esec la livrare")
MESSAGE_ID_LINE = re.compile(r"(?im)^message-id:[ \t]*(?:\r?\n[ \t]+)?<\s*([^<>\s]+?)\s*>")
STATUS = re.compile(r"(?im)^status:\s*([245])\.\d{1,3}\.\d{1,3}")
VALID = re.compile(EMAIL_RE)
PERMANENT_HINT = re.compile(r"(?i)\b5\d\d\b|user unknown|no such user|does not exist|unknown user|"
                            r"mailbox unavailable|account (?:is )?disabled|invalid recipient|recipient rejected")


class BounceReport(NamedTuple):
    severity: str                 # 'hard' | 'soft'
    recipient: str | None         # the address whose delivery failed
    original_message_id: str | None
    arrival: str | None           # the DSN's Arrival-Date or the original message's Date, as written


def is_candidate(headers: dict[str, str], content_type: str, report_type: str | None, sender_field: str) -> bool:
    """Does anything about this message say it may be a bounce report?"""
    if content_type == "multipart/report" and (report_type or "delivery-status").lower() == "delivery-status":
        return True
    if "x-failed-recipients" in headers:
        return True
    if MTA_SENDER.search(sender_field or ""):
        return True
    if null_sender(sender_field) or headers.get("return-path", "").strip() == "<>":
        return True
    return bool(FAILURE_SUBJECT.search(headers.get("subject", "")))


def null_sender(sender_field: str | None) -> bool:
    """`From: <>`, `From: Mail Delivery System <>` or an empty From: RFC 5321's null reverse-path."""
    if sender_field is None:
        return False
    value = sender_field.strip()
    return not value or value.endswith("<>") or value == "<>"


def strong_signs(headers: dict[str, str], content_type: str, report_type: str | None, sender_field: str) -> bool:
    """A DSN, an MTA sender or a null sender: a bounce even when no recipient can be read from it."""
    return ((content_type == "multipart/report" and (report_type or "delivery-status").lower() == "delivery-status")
            or bool(MTA_SENDER.search(sender_field or "")) or null_sender(sender_field)
            or "x-failed-recipients" in headers)


def read_report(msg: Message, own_message_id: str | None, strong: bool,
                fallback_recipient: str | None) -> BounceReport | None:
    """The bounce in a fully parsed message, or None when it is no bounce after all."""
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector choking on odd MIME must not stop ingest
        temporary, permanent = set(), set()
    hard = _addresses(permanent)
    soft = _addresses(temporary)
    text = _flat_text(msg)
    if hard:
        severity, recipient = "hard", hard[0]
    elif soft:
        severity, recipient = "soft", soft[0]
    elif strong:
        recipient = fallback_recipient
        status = STATUS.search(text)
        if status:
            severity = "hard" if status.group(1) == "5" else "soft"
        else:
            severity = "hard" if recipient and PERMANENT_HINT.search(text) else "soft"
    else:
        return None
    return BounceReport(severity, recipient, _original_message_id(msg, text, own_message_id), _arrival(msg, text))


def _addresses(found) -> list[str]:
    out = []
    for value in sorted(found):
        address = (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)).strip().strip("<>")
        address = address.lower()
        if VALID.match(address) and address not in out:
            out.append(address)
    return out


def _flat_text(msg: Message) -> str:
    """Every text-ish part of the report as text (for status codes and quoted original headers)."""
    pieces = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            pieces.append(payload.decode("utf-8", "replace"))
        elif isinstance(part.get_payload(), str):
            pieces.append(part.get_payload())
        if part.get_content_type() == "message/delivery-status" and isinstance(part.get_payload(), list):
            pieces.extend(str(block) for block in part.get_payload())
    return "\n".join(pieces)


def _original_message_id(msg: Message, text: str, own: str | None) -> str | None:
    """The Message-ID of the message that bounced: the returned message or headers, else a quoted line."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                found = MESSAGE_ID_LINE.search(f"Message-ID: {inner.get('Message-ID', '')}")
                if found and found.group(1) != own:
                    return found.group(1)
        elif ctype == "text/rfc822-headers":
            payload = part.get_payload(decode=True) or b""
            headers = HeaderParser(policy=compat32).parsestr(payload.decode("utf-8", "replace"))
            found = MESSAGE_ID_LINE.search(f"Message-ID: {headers.get('Message-ID', '')}")
            if found and found.group(1) != own:
                return found.group(1)
    for found in MESSAGE_ID_LINE.finditer(text):
        if found.group(1) != own:
            return found.group(1)
    return None


def _arrival(msg: Message, text: str) -> str | None:
    found = re.search(r"(?im)^arrival-date:\s*(.+)$", text)
    if found:
        return found.group(1).strip()
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message) and inner.get("Date"):
                return str(inner.get("Date"))
    found = re.search(r"(?im)^date:\s*(.+)$", text)
    return found.group(1).strip() if found else None

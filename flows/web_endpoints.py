"""The receiver's two webhook endpoints as plain ASGI apps, and the dispatcher that reaches them first.

POST /twilio/sms and POST /events/<channel> are most of what the web process answers, so they are served
in pure ASGI, straight from uvicorn's scope and receive/send: no Starlette Request, Response, middleware
or route matching per call (profiled: about a fifth of the receiver's CPU per webhook). `FastPath` sends
exactly those two (POST, exact path) to them and everything else (/health, other methods, the extra routes,
404s) to the Starlette app, whose routes name the same endpoints, so both ways give the same answers.
What is checked and refused, and why, is in flows/web.py's module docstring.
"""
from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.receive import LandingAppender, RejectedRequest, received_now
from legatura.transforms.channels.events import CHANNEL_NAME, event_problem
from legatura.transforms.signatures import event_signature_problem, twilio_signature_valid

MAX_BODY_BYTES = 64 * 1024
DRAIN_LIMIT = 16 * MAX_BODY_BYTES   # an oversized body up to this is read, so its sender gets the 413
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
MESSAGE_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
FORM = "application/x-www-form-urlencoded"
TEXT, XML, JSON = b"text/plain; charset=utf-8", b"text/xml; charset=utf-8", b"application/json"
EVENTS_PREFIX = "/events/"
WANTED_HEADERS = frozenset({b"content-length", b"content-type", b"host", b"x-twilio-signature",
                            b"x-legatura-timestamp", b"x-legatura-signature"})

log = logging.getLogger("legatura.web")

Answer = tuple[int, bytes, bytes]   # status, body, content type


@dataclass(frozen=True)
class Secrets:
    """What authenticates senders: Twilio's auth token, the events secret, and the public base URL."""

    twilio_token: str
    events_secret: str
    public_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Secrets:
        return cls(settings.sms.token.get_secret_value(), settings.receive.secret.get_secret_value(),
                   settings.receive.public_url.strip().rstrip("/"))


def shown(text: str) -> str:
    """Text with control and non-ASCII characters escaped, safe in a log line or a reason."""
    return ascii(text)[1:-1]


def request_headers(scope: dict) -> dict[bytes, str]:
    """The headers the endpoints read, first occurrence of each, as latin-1 text (as Starlette gives them)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in WANTED_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def read_body(receive: Callable[[], Awaitable[dict]], headers: dict[bytes, str], expected_type: str) -> bytes:
    """The whole body within MAX_BODY_BYTES and of the expected content type, else a RejectedRequest."""
    length = headers.get(b"content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise RejectedRequest(400, f"Content-Length {length[:20]!r} is not a number")
    if length is not None and int(length) > DRAIN_LIMIT:
        # too much to read only to refuse it: the connection ends after the answer
        raise RejectedRequest(413, f"body of {int(length)} bytes is over the {MAX_BODY_BYTES}-byte limit", close=True)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: the deadline passed or the client hung up
            raise RejectedRequest(408, "the request did not arrive in time or the client hung up")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            raise RejectedRequest(413, f"body over the {MAX_BODY_BYTES}-byte limit", close=True)
        if not message.get("more_body", False):
            break
    if size > MAX_BODY_BYTES:
        raise RejectedRequest(413, f"body of {size} bytes is over the {MAX_BODY_BYTES}-byte limit")
    content_type = headers.get(b"content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != expected_type:
        raise RejectedRequest(415, f"Content-Type must be {expected_type}, not {content_type[:60] or 'missing'}")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def signed_url(scope: dict, headers: dict[bytes, str], public_url: str) -> str:
    """The URL Twilio signed: [receive] public_url + the path and query this request came on."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    tail = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    if public_url:
        return public_url + tail
    return f"{scope.get('scheme', 'http')}://{headers.get(b'host', '')}{tail}"


class Endpoint:
    """One ASGI endpoint: `handler(scope, receive)` gives the answer or raises RejectedRequest (a 4xx/5xx)."""

    def __init__(self, handler: Callable[[dict, Callable], Awaitable[Answer]]) -> None:
        self.handler = handler

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        close = False
        try:
            status, body, content_type = await self.handler(scope, receive)
        except RejectedRequest as exc:
            log.info("refused %s %s: %s %s", scope["method"], shown(scope["path"][:200]), exc.status,
                     shown(exc.reason))
            status, body, content_type, close = exc.status, (exc.reason + "\n").encode("utf-8"), TEXT, exc.close
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Receiver:
    """The receiver's endpoints over one LandingAppender."""

    def __init__(self, settings: Settings, say: Callable[[str], None]) -> None:
        self.landing = settings.landing.path
        self.appender = LandingAppender(self.landing)
        self.secrets = Secrets.from_settings(settings)
        self.say = say
        self.twilio_endpoint = Endpoint(self.twilio_sms)
        self.event_endpoint = Endpoint(self.event)
        self._paths: dict[str, Path] = {}

    def _day_file(self, name: str) -> Path:
        """landing/<name> as a Path, remembered (a few per day): building Paths costs more than the fsync's share."""
        path = self._paths.get(name)
        if path is None:
            if len(self._paths) >= 256:
                self._paths.clear()
            path = self._paths[name] = self.landing / name
        return path

    async def _store(self, path: Path, key: str, record: dict) -> bool:
        try:
            return await self.appender.append(path, key, record)
        except OSError as exc:
            self.say(f"receive: could not store {path.name} durably: {exc}")
            raise RejectedRequest(500, f"could not store the event durably ({exc.strerror or exc}); "
                                       "retry later") from None

    async def twilio_sms(self, scope: dict, receive: Callable) -> Answer:
        headers = request_headers(scope)
        body = await read_body(receive, headers, FORM)
        try:
            pairs = parse_form(body)
        except UnicodeDecodeError:
            raise RejectedRequest(400, "body is not UTF-8 form data") from None
        except ValueError as exc:
            raise RejectedRequest(400, f"body is not form data: {exc}") from None
        if self.secrets.twilio_token:
            signature = headers.get(b"x-twilio-signature", "")
            url = signed_url(scope, headers, self.secrets.public_url)
            if not signature or not twilio_signature_valid(self.secrets.twilio_token, url, pairs, signature):
                raise RejectedRequest(403, "X-Twilio-Signature is missing or is not Twilio's for this URL and body "
                                           "(check [receive] public_url and LEGATURA_SMS__TOKEN)")
        fields: dict[str, str] = {}
        for name, value in pairs:
            fields.setdefault(name, value)
        sid = fields.get("MessageSid", "").strip()
        if not sid:
            raise RejectedRequest(400, "no MessageSid field: not a Twilio incoming-message webhook")
        if not MESSAGE_SID.match(sid):
            raise RejectedRequest(400, f"MessageSid '{shown(sid[:80])}' is not a Twilio message id")
        if not fields.get("From", "").strip():
            raise RejectedRequest(400, "no From field: the sender's number is missing")
        record = {**fields, "MessageSid": sid, "received_at": received_now()}
        await self._store(self._day_file(f"twilio/inbound-{record['received_at'][:10]}.jsonl"), "MessageSid", record)
        return 200, TWIML_EMPTY, XML

    async def event(self, scope: dict, receive: Callable) -> Answer:
        channel = scope["path"][len(EVENTS_PREFIX):]
        if not CHANNEL_NAME.match(channel):
            raise RejectedRequest(404, f"channel '{shown(channel[:40])}' in /events/<channel> must be lower-case "
                                       "letters, digits or _ (at most 32), e.g. /events/web")
        headers = request_headers(scope)
        body = await read_body(receive, headers, "application/json")
        if self.secrets.events_secret:
            problem = event_signature_problem(self.secrets.events_secret, headers.get(b"x-legatura-timestamp"),
                                              headers.get(b"x-legatura-signature"), body, time.time())
            if problem:
                raise RejectedRequest(403, problem)
        event = parse_event_json(body)
        if isinstance(event, dict) and event.get("channel") not in (None, channel):
            raise RejectedRequest(400, f"channel {shown(repr(event['channel'])[:40])} in the body differs from "
                                       f"/events/{channel}")
        problem = event_problem(event)
        if problem:
            raise RejectedRequest(400, f"not a valid event: {problem}")
        record = {**event, "id": event["id"].strip(), "channel": channel, "received_at": received_now()}
        written = await self._store(self._day_file(f"events/{channel}-{record['received_at'][:10]}.jsonl"), "id",
                                    record)
        reply = {"status": "stored" if written else "duplicate", "id": record["id"]}
        return (202 if written else 200), json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode(), JSON


class FastPath:
    """ASGI: POST /twilio/sms and POST /events/<channel> straight to their endpoints, the rest to `app`."""

    def __init__(self, app: Callable, receiver: Receiver) -> None:
        self.app, self.receiver, self.state = app, receiver, app.state

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path == "/twilio/sms":
                return await self.receiver.twilio_endpoint(scope, receive, send)
            if path.startswith(EVENTS_PREFIX) and len(path) > len(EVENTS_PREFIX) and "/" not in path[8:]:
                return await self.receiver.event_endpoint(scope, receive, send)
        await self.app(scope, receive, send)


def parse_form(body: bytes, max_fields: int = 200) -> list[tuple[str, str]]:
    """application/x-www-form-urlencoded as (name, value) pairs, strictly: UTF-8, every field `name=value`."""
    text = body.decode("utf-8")
    if not text:
        return []
    fields = text.split("&")
    if len(fields) > max_fields:
        raise ValueError(f"more than {max_fields} fields")
    pairs = []
    for field in fields:
        name, equals, value = field.partition("=")
        if not equals or not name:
            raise ValueError(f"bad field {shown(field[:40])!r}: expected name=value")
        pairs.append((_unquote_form(name), _unquote_form(value)))
    return pairs


def _unquote_form(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    # bytes then one strict decode: the same text (and the same refusals) as unquote(errors="strict"), faster
    return urllib.parse.unquote_to_bytes(text).decode("utf-8") if "%" in text else text


def parse_event_json(body: bytes) -> object:
    """The body as JSON that can be stored as UTF-8 text again, else a 400 with the reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedRequest(400, f"body is not UTF-8 JSON (byte {exc.start}: {exc.reason})") from None
    try:
        event = json.loads(text)
    except RecursionError:
        raise RejectedRequest(400, "body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise RejectedRequest(400, f"body is not valid JSON: {exc}") from None
    try:
        json.dumps(event, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:  # "\ud800": a lone surrogate escape, no character of any text
        raise RejectedRequest(400, f"body is not valid JSON text: {exc.reason} "
                                   f"({shown(exc.object[exc.start:exc.end])})") from None
    except RecursionError:
        raise RejectedRequest(400, "body is not valid JSON: nested too deeply") from None
    return event

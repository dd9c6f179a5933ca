"""The web process: the webhook receiver (and any extra routes, e.g. unsubscribe links) as a Starlette app on uvicorn.

    POST /twilio/sms        Twilio's incoming-message webhook (form fields), signed with X-Twilio-Signature
                            -> landing/twilio/inbound-YYYY-MM-DD.jsonl (the fields + received_at)
    POST /events/<channel>  one JSON interaction event (schema: legatura.transforms.channels.events), signed with
                            X-Legatura-Timestamp + X-Legatura-Signature (transforms/signatures.py)
                            -> landing/events/<channel>-YYYY-MM-DD.jsonl (+ channel, received_at)
    GET  /health            200 "ok"

Every request gets a status: a refusal is a 4xx with one line of reason and writes nothing; an accepted one
is fsync'd (flows/receive.py) before its 2xx. A request without a valid signature gets 403. Without a secret
for a route the process listens on loopback only (it says so at start), and refuses any other address.
Limits: bodies of MAX_BODY_BYTES, `[receive] request_timeout_seconds` for a whole request (headers and
body; flows/web_protocol.py) and `[receive] max_connections` open connections (more get 503).
"""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.receive import InsecureReceiver, LandingAppender, ReceiverError, RejectedRequest, received_now
from legatura.transforms.channels.events import CHANNEL_NAME, event_problem
from legatura.transforms.signatures import event_signature_problem, twilio_signature_valid
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

MAX_BODY_BYTES = 64 * 1024
DRAIN_LIMIT = 16 * MAX_BODY_BYTES   # an oversized body up to this is read, so its sender gets the 413
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
MESSAGE_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
FORM = "application/x-www-form-urlencoded"

log = logging.getLogger("legatura.web")


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


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_bind(settings: Settings, host: str) -> list[str]:
    """Refuse a non-loopback address without both secrets; the notes to say at start on loopback without them."""
    secrets = Secrets.from_settings(settings)
    missing = [name for name, value in (("LEGATURA_SMS__TOKEN (Twilio's auth token)", secrets.twilio_token),
                                        ("LEGATURA_RECEIVE__SECRET (signs /events/<channel>)", secrets.events_secret))
               if not value]
    if missing and not is_loopback(host):
        raise InsecureReceiver(f"refusing to listen on {host}: anyone could write to the receiver without "
                               f"{' and '.join(missing)}; set {'them' if len(missing) > 1 else 'it'} in the environment, "
                               "or listen on 127.0.0.1")
    notes = []
    if not secrets.twilio_token:
        notes.append("unsigned requests accepted on /twilio/sms (no LEGATURA_SMS__TOKEN): loopback only")
    if not secrets.events_secret:
        notes.append("unsigned requests accepted on /events/<channel> (no LEGATURA_RECEIVE__SECRET): loopback only")
    if secrets.twilio_token and not secrets.public_url:
        notes.append("no [receive] public_url: Twilio signatures are checked against the URL of each request's Host")
    return notes


def _shown(text: str) -> str:
    """Text with control and non-ASCII characters escaped, safe in a log line or a reason."""
    return ascii(text)[1:-1]


def _refusal(request: Request, status: int, reason: str, close: bool = False) -> Response:
    log.info("refused %s %s: %s %s", request.method, _shown(request.url.path[:200]), status, _shown(reason))
    return PlainTextResponse(reason + "\n", status, headers={"Connection": "close"} if close else None)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RejectedRequest)
    return _refusal(request, exc.status, exc.reason, exc.close)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = _shown(request.url.path[:80])
    reasons = {404: f"no such endpoint {request.method} {path}: POST /twilio/sms or /events/<channel>, GET /health",
               405: f"{request.method} is not allowed on {path}"}
    response = _refusal(request, exc.status_code, reasons.get(exc.status_code, str(exc.detail)))
    response.headers.update(exc.headers or {})
    return response


async def read_body(request: Request, expected_type: str) -> bytes:
    """The whole body within MAX_BODY_BYTES and of the expected content type, else a RejectedRequest."""
    length = request.headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise RejectedRequest(400, f"Content-Length {length[:20]!r} is not a number")
    if length is not None and int(length) > DRAIN_LIMIT:
        # too much to read only to refuse it: the connection ends after the answer
        raise RejectedRequest(413, f"body of {int(length)} bytes is over the {MAX_BODY_BYTES}-byte limit", close=True)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size <= MAX_BODY_BYTES:
                chunks.append(chunk)
            elif size > DRAIN_LIMIT:
                raise RejectedRequest(413, f"body over the {MAX_BODY_BYTES}-byte limit", close=True)
    except ClientDisconnect:
        raise RejectedRequest(408, "the request did not arrive in time or the client hung up") from None
    if size > MAX_BODY_BYTES:
        raise RejectedRequest(413, f"body of {size} bytes is over the {MAX_BODY_BYTES}-byte limit")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != expected_type:
        raise RejectedRequest(415, f"Content-Type must be {expected_type}, not {content_type[:60] or 'missing'}")
    return b"".join(chunks)


def _signed_url(request: Request, public_url: str) -> str:
    """The URL Twilio signed: [receive] public_url + the path and query this request came on."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    tail = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    if public_url:
        return public_url + tail
    return f"{request.url.scheme}://{request.headers.get('host', '')}{tail}"


class Receiver:
    """The receiver's endpoints over one LandingAppender."""

    def __init__(self, settings: Settings, say: Callable[[str], None]) -> None:
        self.landing = settings.landing.path
        self.appender = LandingAppender(self.landing)
        self.secrets = Secrets.from_settings(settings)
        self.say = say

    async def _store(self, path: Path, key: str, record: dict) -> bool:
        try:
            return await self.appender.append(path, key, record)
        except OSError as exc:
            self.say(f"receive: could not store {path.name} durably: {exc}")
            raise RejectedRequest(500, f"could not store the event durably ({exc.strerror or exc}); "
                                       "retry later") from None

    async def twilio_sms(self, request: Request) -> Response:
        body = await read_body(request, FORM)
        try:
            pairs = parse_form(body)
        except UnicodeDecodeError:
            raise RejectedRequest(400, "body is not UTF-8 form data") from None
        except ValueError as exc:
            raise RejectedRequest(400, f"body is not form data: {exc}") from None
        if self.secrets.twilio_token:
            signature = request.headers.get("x-twilio-signature", "")
            url = _signed_url(request, self.secrets.public_url)
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
            raise RejectedRequest(400, f"MessageSid '{_shown(sid[:80])}' is not a Twilio message id")
        if not fields.get("From", "").strip():
            raise RejectedRequest(400, "no From field: the sender's number is missing")
        record = {**fields, "MessageSid": sid, "received_at": received_now()}
        await self._store(self.landing / "twilio" / f"inbound-{record['received_at'][:10]}.jsonl", "MessageSid",
                          record)
        return Response(TWIML_EMPTY, 200, media_type="text/xml; charset=utf-8")

    async def event(self, request: Request) -> Response:
        channel = request.path_params["channel"]
        if not CHANNEL_NAME.match(channel):
            raise RejectedRequest(404, f"channel '{_shown(channel[:40])}' in /events/<channel> must be lower-case "
                                       "letters, digits or _ (at most 32), e.g. /events/web")
        body = await read_body(request, "application/json")
        if self.secrets.events_secret:
            problem = event_signature_problem(self.secrets.events_secret, request.headers.get("x-legatura-timestamp"),
                                              request.headers.get("x-legatura-signature"), body, time.time())
            if problem:
                raise RejectedRequest(403, problem)
        event = parse_event_json(body)
        if isinstance(event, dict) and event.get("channel") not in (None, channel):
            raise RejectedRequest(400, f"channel {_shown(repr(event['channel'])[:40])} in the body differs from "
                                       f"/events/{channel}")
        problem = event_problem(event)
        if problem:
            raise RejectedRequest(400, f"not a valid event: {problem}")
        record = {**event, "id": event["id"].strip(), "channel": channel, "received_at": received_now()}
        written = await self._store(self.landing / "events" / f"{channel}-{record['received_at'][:10]}.jsonl",
                                    "id", record)
        reply = {"status": "stored" if written else "duplicate", "id": record["id"]}
        return JSONResponse(reply, 202 if written else 200)


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
            raise ValueError(f"bad field {_shown(field[:40])!r}: expected name=value")
        pairs.append((_unquote_form(name), _unquote_form(value)))
    return pairs


def _unquote_form(text: str) -> str:
    if "+" in text:
        text = text.replace("+", " ")
    return urllib.parse.unquote(text, errors="strict") if "%" in text else text


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
                                   f"({_shown(exc.object[exc.start:exc.end])})") from None
    except RecursionError:
        raise RejectedRequest(400, "body is not valid JSON: nested too deeply") from None
    return event


async def health(request: Request) -> Response:
    return PlainTextResponse("ok\n")


def build_app(settings: Settings, extra_routes: Sequence[BaseRoute] = (),
              say: Callable[[str], None] | None = None) -> Starlette:
    """The receiver's routes (/twilio/sms, /events/<channel>, /health) plus `extra_routes`, as one ASGI app."""
    receiver = Receiver(settings, say or (lambda message: None))
    routes = [Route("/twilio/sms", receiver.twilio_sms, methods=["POST"]),
              Route("/events/{channel}", receiver.event, methods=["POST"]),
              Route("/health", health, methods=["GET", "HEAD"]),
              *extra_routes]
    app = Starlette(routes=routes, exception_handlers={RejectedRequest: _refused, HTTPException: _http_error})
    app.state.receiver = receiver
    return app


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on host:port (0 picks a free port), or a ReceiverError in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP (else Nagle + delayed ACK: 40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ReceiverError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                            "pass another --port (0 picks a free one)") from None
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(settings: Settings, app: Starlette):
    import uvicorn
    from legatura.flows.web_protocol import deadline_protocol

    limits = settings.receive
    config = uvicorn.Config(
        app, http=deadline_protocol(limits.request_timeout_seconds), lifespan="off", log_config=None,
        access_log=False, server_header=False, proxy_headers=False, ws="none",
        limit_concurrency=limits.max_connections, backlog=max(64, 2 * limits.max_connections),
        timeout_keep_alive=5, timeout_graceful_shutdown=max(1, round(limits.request_timeout_seconds)))
    return uvicorn.Server(config)


def _describe(url: str, landing: Path, notes: list[str], say: Callable[[str], None]) -> None:
    say(f"receiving on {url}: POST /twilio/sms -> {landing / 'twilio'}/, "
        f"POST /events/<channel> -> {landing / 'events'}/")
    for note in notes:
        say(note)


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def serve(settings: Settings, host: str, port: int, say: Callable[[str], None],
          extra_routes: Sequence[BaseRoute] = ()) -> None:
    """Serve until SIGINT (KeyboardInterrupt is raised again after the stop) or SIGTERM (returns)."""
    import signal

    notes = check_bind(settings, host)
    sock = listen(host, port, max(64, 2 * settings.receive.max_connections))
    app = build_app(settings, extra_routes, say)
    server = _uvicorn_server(settings, app)
    _describe(_url(sock), settings.landing.path, notes, say)
    # uvicorn stops gracefully on either signal, then raises it again: SIGTERM lands here and ends the run
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        say("receiver stopped (Ctrl-C)")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
        app.state.receiver.appender.close()
    say("receiver stopped")


class RunningWeb:
    """A web process served from a background thread (tests, bench, `legatura watch` beside it): `.url`, `.shutdown()`."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0,
                 extra_routes: Sequence[BaseRoute] = (), say: Callable[[str], None] | None = None) -> None:
        say = say or (lambda message: None)
        notes = check_bind(settings, host)
        self.socket = listen(host, port, max(64, 2 * settings.receive.max_connections))
        self.server_address = self.socket.getsockname()[:2]
        self.url = _url(self.socket)
        self.app = build_app(settings, extra_routes, say)
        self.server = _uvicorn_server(settings, self.app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                       name="legatura-web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.started:
            raise ReceiverError(f"the web process on {self.url} did not start")
        _describe(self.url, settings.landing.path, notes, say)

    def shutdown(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()
        self.app.state.receiver.appender.close()


def serve_in_thread(settings: Settings, host: str = "127.0.0.1", port: int = 0,
                    extra_routes: Sequence[BaseRoute] = (), say: Callable[[str], None] | None = None) -> RunningWeb:
    """Start the web process in a background thread; returns it (`.url`, `.shutdown()`)."""
    return RunningWeb(settings, host, port, extra_routes, say)

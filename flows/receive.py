"""`legatura receive`: a small HTTP receiver that lands SMS webhooks and generic events in landing/ as JSON Lines.

    POST /twilio/sms        Twilio's incoming-message webhook (form fields)
                            -> landing/twilio/inbound-YYYY-MM-DD.jsonl (the fields + received_at)
    POST /events/<channel>  one JSON interaction event (schema: legatura.transforms.channels.events)
                            -> landing/events/<channel>-YYYY-MM-DD.jsonl (+ channel, received_at)
    GET  /health            200 "ok"

An accepted request is one line appended with O_APPEND and fsync'd before the 2xx answer, so what was
acknowledged survives a crash; a rejected one gets a 4xx with the reason and writes nothing. Events land
under landing/events/ (not landing/<channel>/) because a landing folder names the preset that reads it.
Dates in file names are UTC. The watcher (`legatura watch`) or `legatura run` ingests the files; the
ingest key (MessageSid, event id) makes a repeated delivery harmless, and the receiver also answers a
repeat it remembers without writing it again.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels.events import CHANNEL_NAME, event_problem
from legatura.transforms.errors import LegaturaError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
MAX_BODY_BYTES = 64 * 1024
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
EVENTS_ROUTE = re.compile(r"^/events/([^/]+)/?$")
MESSAGE_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
REMEMBERED_FILES = 8            # day files whose ids the receiver keeps in memory for de-duplication

log = logging.getLogger("legatura.receive")


class ReceiverError(LegaturaError):
    """The receiver could not start listening (address in use, not permitted)."""


class RejectedRequest(Exception):
    """A request the receiver refuses; carries the HTTP status and the reason sent back."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class LandingAppender:
    """Durable, de-duplicated appends of one JSON object per line to landing files, a lock per file."""

    def __init__(self, landing: Path) -> None:
        self.landing = landing
        self._guard = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}
        self._ids: dict[Path, set[str]] = {}      # insertion-ordered: the oldest file is forgotten first

    def _lock_for(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def _known_ids(self, path: Path, key: str) -> set[str]:
        """Ids already in the file (read once per file and process, so a restart still spots repeats)."""
        with self._guard:
            ids = self._ids.get(path)
        if ids is not None:
            return ids
        ids = set()
        if path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    value = json.loads(line).get(key)
                except (ValueError, AttributeError):
                    continue  # a broken line is the preset's business
                if isinstance(value, str):
                    ids.add(value)
        with self._guard:
            self._ids[path] = ids
            while len(self._ids) > REMEMBERED_FILES:
                self._ids.pop(next(iter(self._ids)))
        return ids

    def append(self, path: Path, key: str, record: dict) -> bool:
        """Append `record` unless its `key` value is already in the file; True when written. Durable on return."""
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        record_id = record[key]
        with self._lock_for(path):  # callers of one file queue here; _known_ids reads it once under this lock
            known = self._known_ids(path, key)
            written = record_id not in known
            if written:
                _append_line(path, line)
                known.add(record_id)
        # outside the lock, so concurrent requests share the disk flushes; fsync covers every earlier write
        _fsync_file(path)
        return written


def _append_line(path: Path, line: bytes) -> None:
    """One O_APPEND write of a whole line; on failure the file is cut back so no partial line stays."""
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)  # the new file's name must survive a crash too


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def received_now() -> str:
    """The receipt time as ISO 8601 in UTC with offset, to the microsecond (STOP then START in one second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ReceiverHandler(BaseHTTPRequestHandler):
    """Routes POST /twilio/sms and POST /events/<channel>; every refusal is a 4xx with one line of reason."""

    protocol_version = "HTTP/1.1"       # keep-alive: Twilio and load generators reuse connections
    server_version = "legatura-receive"
    timeout = 30                        # a client that stalls mid-request loses its connection
    disable_nagle_algorithm = True      # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: Receiver

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0] == "/health":
            self._answer(200, "text/plain; charset=utf-8", b"ok\n")
        else:
            self._refuse(RejectedRequest(404, f"no such endpoint GET {self.path}: POST /twilio/sms or "
                                              "/events/<channel>, GET /health"))

    def do_POST(self) -> None:  # noqa: N802
        self._consumed = False
        route = self.path.split("?", 1)[0]
        try:
            if route == "/twilio/sms":
                self._twilio_sms()
            elif match := EVENTS_ROUTE.match(route):
                self._event(urllib.parse.unquote(match.group(1)))
            else:
                raise RejectedRequest(404, f"no such endpoint POST {route}: use /twilio/sms or /events/<channel>")
        except RejectedRequest as refusal:
            self._refuse(refusal)
        except OSError as exc:
            self.server.say(f"receive: could not store {route} durably: {exc}")
            self._answer(500, "text/plain; charset=utf-8",
                         f"could not store the event durably ({exc.strerror or exc}); retry later\n".encode())

    def _refuse(self, refusal: RejectedRequest) -> None:
        log.info("refused %s %s: %s %s", self.command, self.path, refusal.status, refusal.reason)
        if not getattr(self, "_consumed", True):
            self.close_connection = True  # an unread body would be taken for the next request
        self._answer(refusal.status, "text/plain; charset=utf-8", (refusal.reason + "\n").encode())

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _body(self, expected_type: str) -> bytes:
        """The request body, after checking its length and content type."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RejectedRequest(411, "chunked bodies are not accepted: send a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            raise RejectedRequest(411, "no Content-Length header")
        try:
            size = int(length)
        except ValueError:
            raise RejectedRequest(400, f"Content-Length {length!r} is not a number") from None
        if size < 0:
            raise RejectedRequest(400, f"Content-Length {size} is negative")
        if size > MAX_BODY_BYTES:
            if size <= 16 * MAX_BODY_BYTES:  # read it, so the client gets the answer rather than a reset
                self.rfile.read(size)
                self._consumed = True
            raise RejectedRequest(413, f"body of {size} bytes is over the {MAX_BODY_BYTES}-byte limit")
        body = self.rfile.read(size)
        self._consumed = True
        if len(body) < size:
            self.close_connection = True
            raise RejectedRequest(400, f"body ended after {len(body)} of {size} bytes")
        if self.headers.get_content_type() != expected_type:
            raise RejectedRequest(415, f"Content-Type must be {expected_type}, "
                                       f"not {self.headers.get('Content-Type') or 'missing'}")
        return body

    def _twilio_sms(self) -> None:
        body = self._body("application/x-www-form-urlencoded")
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                                           errors="strict", max_num_fields=200)
        except UnicodeDecodeError:
            raise RejectedRequest(400, "body is not UTF-8 form data") from None
        except ValueError as exc:
            raise RejectedRequest(400, f"body is not form data: {exc}") from None
        fields: dict[str, str] = {}
        for name, value in pairs:
            fields.setdefault(name, value)
        sid = fields.get("MessageSid", "").strip()
        if not sid:
            raise RejectedRequest(400, "no MessageSid field: not a Twilio incoming-message webhook")
        if not MESSAGE_SID.match(sid):
            raise RejectedRequest(400, f"MessageSid {sid[:80]!r} is not a Twilio message id")
        if not fields.get("From", "").strip():
            raise RejectedRequest(400, "no From field: the sender's number is missing")
        record = {**fields, "MessageSid": sid, "received_at": received_now()}
        path = self.server.landing / "twilio" / f"inbound-{record['received_at'][:10]}.jsonl"
        self.server.appender.append(path, "MessageSid", record)
        self._answer(200, "text/xml; charset=utf-8", TWIML_EMPTY)

    def _event(self, channel: str) -> None:
        if not CHANNEL_NAME.match(channel):
            raise RejectedRequest(404, f"channel {channel[:40]!r} in /events/<channel> must be lower-case "
                                       "letters, digits or _ (at most 32), e.g. /events/web")
        body = self._body("application/json")
        try:
            event = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise RejectedRequest(400, "body is not UTF-8 JSON") from None
        except ValueError as exc:
            raise RejectedRequest(400, f"body is not valid JSON: {exc}") from None
        if isinstance(event, dict) and event.get("channel") not in (None, channel):
            raise RejectedRequest(400, f"channel {event['channel']!r} in the body differs from /events/{channel}")
        problem = event_problem(event)
        if problem:
            raise RejectedRequest(400, f"not a valid event: {problem}")
        record = {**event, "id": event["id"].strip(), "channel": channel, "received_at": received_now()}
        path = self.server.landing / "events" / f"{channel}-{record['received_at'][:10]}.jsonl"
        written = self.server.appender.append(path, "id", record)
        reply = {"status": "stored" if written else "duplicate", "id": record["id"]}
        self._answer(202 if written else 200, "application/json", json.dumps(reply).encode())

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s %s", self.address_string(), format % args)


class Receiver(ThreadingHTTPServer):
    """The listening server; `shutdown()` stops it and releases the port."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 say: Callable[[str], None] | None = None) -> None:
        self.landing = settings.landing.path
        self.appender = LandingAppender(self.landing)
        self.say = say or (lambda message: None)
        try:
            super().__init__((host, port), ReceiverHandler)
        except OSError as exc:
            raise ReceiverError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                "pass another --port (0 picks a free one)") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up is routine (nothing was acknowledged); anything else is logged."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        log.exception("receiver: error while serving %s", client_address[0])

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def _describe(server: Receiver, say: Callable[[str], None]) -> None:
    say(f"receiving on {server.url}: POST /twilio/sms -> {server.landing / 'twilio'}/, "
        f"POST /events/<channel> -> {server.landing / 'events'}/")
    host = server.server_address[0]
    if not ipaddress.ip_address(host).is_loopback:
        say(f"warning: listening on {host}, not loopback: put it behind a TLS proxy that checks the sender")


def serve_receiver(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                   say: Callable[[str], None] | None = None) -> Receiver:
    """Start the receiver in a background thread; returns it (`.url`, `.shutdown()`)."""
    say = say or (lambda message: None)
    server = Receiver(settings, host, port, say)
    threading.Thread(target=server.serve_forever, name="legatura-receive", daemon=True).start()
    _describe(server, say)
    return server


def receive_command(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                    say: Callable[[str], None] | None = None) -> None:
    """`legatura receive`: serve in this thread until Ctrl-C."""
    say = say or (lambda message: None)
    server = Receiver(settings, host, port, say)
    _describe(server, say)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("receiver stopped")
    finally:
        server.server_close()

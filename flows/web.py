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
The two webhook routes are served in pure ASGI ahead of Starlette (flows/web_endpoints.py, for speed), on
uvloop where it is installed (a dependency except on Windows; uvicorn's loop="auto" picks it).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.receive import InsecureReceiver, ReceiverError
from legatura.flows.web_endpoints import MAX_BODY_BYTES, FastPath, Receiver, Secrets  # noqa: F401  (MAX_BODY_BYTES: re-exported)
from legatura.flows.web_endpoints import shown as _shown
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger("legatura.web")


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


def _refusal(request: Request, status: int, reason: str, close: bool = False) -> Response:
    log.info("refused %s %s: %s %s", request.method, _shown(request.url.path[:200]), status, _shown(reason))
    return PlainTextResponse(reason + "\n", status, headers={"Connection": "close"} if close else None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = _shown(request.url.path[:80])
    reasons = {404: f"no such endpoint {request.method} {path}: POST /twilio/sms or /events/<channel>, GET /health",
               405: f"{request.method} is not allowed on {path}"}
    response = _refusal(request, exc.status_code, reasons.get(exc.status_code, str(exc.detail)))
    response.headers.update(exc.headers or {})
    return response


async def health(request: Request) -> Response:
    return PlainTextResponse("ok\n")


def build_app(settings: Settings, extra_routes: Sequence[BaseRoute] = (),
              say: Callable[[str], None] | None = None) -> FastPath:
    """The receiver's routes (/twilio/sms, /events/<channel>, /health) plus `extra_routes`, as one ASGI app.

    A Starlette app behind flows/web_endpoints.py's FastPath, which answers the two webhook routes itself.
    """
    receiver = Receiver(settings, say or (lambda message: None))
    routes = [Route("/twilio/sms", receiver.twilio_endpoint, methods=["POST"]),
              Route("/events/{channel}", receiver.event_endpoint, methods=["POST"]),
              Route("/health", health, methods=["GET", "HEAD"]),
              *extra_routes]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.receiver = receiver
    return FastPath(app, receiver)


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


def _uvicorn_server(settings: Settings, app: FastPath):
    import uvicorn
    from legatura.flows.web_protocol import deadline_protocol

    limits = settings.receive
    config = uvicorn.Config(
        app, http=deadline_protocol(limits.request_timeout_seconds), loop="auto", lifespan="off", log_config=None,
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

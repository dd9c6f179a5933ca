"""uvicorn's HTTP protocol with an overall deadline per request, headers and body together: late ones get 408.

Why a subclass: uvicorn (0.54, read in .venv) arms no timer on a new connection, and its only timer, the
keep-alive one, is armed after a response and cancelled by any byte received (`data_received` calls
`_unset_keepalive_if_required`), so a client sending one header byte every 2 s holds its connection, and
a slot of `limit_concurrency`, for ever. Here a timer starts when the connection is accepted, or when the
first byte of a later request on it arrives (httptools' `on_message_begin`), and stops when the request
has been read whole (`on_message_complete`). When it fires first: a request under way gets
`408 Request Timeout` and the connection is closed; an idle connection that sent nothing is just closed.
The app's own work after the request is read (the fsync before 2xx) is not part of the deadline.
Each response's head and body also leave in one send (CoalescedWrites).
"""
from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMEOUT_REASON = b"the request was not received whole within the receiver's request timeout\n"
TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: " + str(len(TIMEOUT_REASON)).encode() + b"\r\nconnection: close\r\n\r\n"
                    + TIMEOUT_REASON)


class DeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus one timer per request (see the module docstring)."""

    request_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._request_begun = False
        self._headers_done = False
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun, self._headers_done = True, False
        if self._deadline is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._headers_done = True
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:
            self.cycle.transport = CoalescedWrites(self.transport, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._request_begun = False
        self._disarm()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._deadline_passed)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        cycle = self.cycle if self._headers_done else None
        if self._request_begun and (cycle is None or not cycle.response_started):
            self.transport.write(TIMEOUT_RESPONSE)
            if cycle is not None:  # the app waits for the rest of the body: it gets a disconnect, and answers nobody
                cycle.disconnected = True
                cycle.message_event.set()
        self.transport.close()


class CoalescedWrites:
    """The transport for one response: its writes in one loop turn (status + headers, body) go out as one send.

    uvicorn writes the head and the body separately; on loopback each send costs as much as the rest of a
    small request's handling, so joining them nearly halves the cost per webhook.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop, self._pending = transport, loop, []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


def deadline_protocol(request_timeout: float) -> type[DeadlineProtocol]:
    """The protocol class for uvicorn.Config(http=...) with this many seconds per request."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"request_timeout": float(request_timeout)})

"""`legatura send` as a Prefect flow: serialisable parameters, its own warehouse connection; the work is in
flows/sending.py (plain functions the tests and a crash-recovering restart call directly)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from legatura.flows.config import load_settings
from legatura.flows.sending import Progress, SendOptions, SendSummary, run_send
from prefect import flow

# the caller's progress listener (a bar on a terminal): never a flow parameter, which a worker could not be given
_listener: ContextVar[Progress | None] = ContextVar("legatura_send_progress", default=None)


@contextlib.contextmanager
def listening(progress: Progress | None) -> Iterator[None]:
    """Send flows run inside this block report their progress to `progress(event, n)`."""
    token = _listener.set(progress)
    try:
        yield
    finally:
        _listener.reset(token)


@flow(name="send")
def send_flow(config: str | None = None, limit: int | None = None, campaign: str | None = None,
              resend_unknown: bool = False) -> SendSummary:
    """Deliver queued messages whose send_after has come (email, SMS, letters), at most once."""
    settings = load_settings(config)
    return run_send(settings, SendOptions(limit, campaign, resend_unknown), _listener.get())

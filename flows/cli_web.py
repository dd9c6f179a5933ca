"""`legatura receive` and `legatura web`: the web process (flows/web.py) from the command line."""
from __future__ import annotations

from typing import Annotated, Optional

import typer
from legatura.flows.cli import app, say, settings, state


def web_routes(s) -> list:
    """Routes the web process serves beside the receiver's: the delivery half's unsubscribe and confirmation
    links (flows/links.py: /u/TOKEN, /c/TOKEN)."""
    from legatura.flows.links import routes

    return routes(s)


def _serve(host: str, port: int, extra_routes: list) -> None:
    from legatura.flows.web import serve

    try:
        serve(settings(), host, port, say, extra_routes)
    except KeyboardInterrupt:
        state.interrupt_told = True      # serve() said "receiver stopped (Ctrl-C)"
        raise SystemExit(130) from None  # Ctrl-C: stopped cleanly, exit 130 as every command does


@app.command()
def receive(
    port: Annotated[Optional[int], typer.Option("--port", help="Port to listen on (default [receive] port, 8787; 0 picks a free one).")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Address to listen on (default [receive] host, 127.0.0.1); beyond loopback only with both secrets set.")] = None,
) -> None:
    """HTTP receiver for signed Twilio SMS webhooks and JSON events, appended durably to landing/ (until Ctrl-C or SIGTERM).

    Example: legatura receive --port 8787
    """
    s = settings()
    _serve(host if host is not None else s.receive.host, port if port is not None else s.receive.port, [])


@app.command()
def web(
    port: Annotated[Optional[int], typer.Option("--port", help="Port to listen on (default [web] port, 8788; 0 picks a free one).")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Address to listen on (default [web] host, 127.0.0.1); beyond loopback only with both secrets set.")] = None,
) -> None:
    """The web process: unsubscribe and confirmation links, and the receiver's endpoints (until Ctrl-C or SIGTERM).

    Example: legatura web --port 8788
    """
    s = settings()
    _serve(host if host is not None else s.web.host, port if port is not None else s.web.port, web_routes(s))

"""`legatura config`: the effective settings and where each came from (file, env, default), secrets masked."""
from __future__ import annotations

import json
from typing import Annotated

import typer
from legatura.flows.cli import app, state
from legatura.flows.config import DEFAULT_CONFIG_FILE, load_with_origins
from legatura.flows.config_sources import effective


@app.command("config")
def show_config(
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Print the effective settings and where each value came from (file, env, default); secrets masked.

    Example: legatura config
    """
    import os

    settings, origins = load_with_origins(state.config)
    rows = effective(settings, origins)
    source = state.config or os.environ.get("LEGATURA_CONFIG") or DEFAULT_CONFIG_FILE
    found = os.path.exists(source)
    if as_json:
        typer.echo(json.dumps({"config_file": str(source), "config_file_found": found,
                               "settings": [{"key": k, "value": v, "source": s} for k, v, s in rows]},
                              ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"# config file: {source}" + ("" if found else " (not found: defaults and env only)"))
    width = max(len(key) for key, _, _ in rows)
    for key, value, where in rows:
        shown = json.dumps(value, ensure_ascii=False, default=str)
        typer.echo(f"{key:<{width}} = {shown}  # {where}")

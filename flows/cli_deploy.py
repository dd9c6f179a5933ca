"""`legatura deploy`: the flows as deployments on the Prefect server in PREFECT_API_URL (registered by cli.py)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from legatura.flows.cli import CommandFailed, app, emit, say, settings, start_prefect, state
from legatura.flows.config import DEFAULT_CONFIG_FILE


@app.command()
def deploy(
    pool: Annotated[str, typer.Option("--pool", help="Work pool the workers poll (created as a process pool if missing).")] = "legatura",
    name: Annotated[str, typer.Option("--name", help="Deployment name: runs are <flow>/<name>.")] = "legatura",
    with_schedules: Annotated[bool, typer.Option("--schedules", help="Attach the [serve] schedules (ingest every few minutes, segments nightly).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deployments as JSON.")] = False,
) -> None:
    """Register ingest, segment, track and run as deployments on the Prefect server in PREFECT_API_URL.

    A worker on this machine then runs them: `prefect worker start --pool legatura` (same PREFECT_API_URL).
    Each deployment reads this folder's legatura.toml; secrets come from the worker's environment.
    PREFECT_API_URL must name that server (e.g. http://127.0.0.1:4200/api).

    Example: legatura deploy --pool legatura
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise CommandFailed("legatura deploy registers the flows on the Prefect server your workers poll: set "
                            "PREFECT_API_URL to it (e.g. http://127.0.0.1:4200/api after `prefect server start`)")
    s = settings()
    config = Path(state.config or os.environ.get("LEGATURA_CONFIG") or DEFAULT_CONFIG_FILE)
    if not config.is_file():
        raise CommandFailed(f"{config}: no such config file; a worker reads its settings from the file the "
                            "deployment names: run `legatura deploy` in the working folder or pass --config")
    start_prefect(s)
    from legatura.flows.deploy import DeployError, deploy_flows, ensure_work_pool

    try:
        if ensure_work_pool(pool):
            say(f"created work pool {pool!r} (process)")
        deployed = deploy_flows(s, config, pool, name, with_schedules)
    except DeployError as exc:
        raise CommandFailed(str(exc)) from None
    emit([d.__dict__ for d in deployed], as_json, [
        *(f"deployed {d.deployment} ({d.entrypoint}) id {d.deployment_id}" for d in deployed),
        f"{len(deployed)} deployment(s) on {os.environ['PREFECT_API_URL']} for work pool {pool!r}; "
        f"start a worker: prefect worker start --pool {pool}",
    ])

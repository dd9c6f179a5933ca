"""`legatura deploy`: register the flows as deployments on a Prefect server, run by workers of a work pool.

Each deployment points at this installation's source folder (`Flow.from_source` with a local path; the
worker must share the filesystem, as a process work pool's worker on the same machine does) and carries
the absolute path of the legatura.toml to read as its `config` parameter: the worker loads the settings
itself, secrets from its own environment, and opens its own warehouse connection.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.errors import LegaturaError

# (flow name, file in flows/, function): the entry points a worker loads
FLOWS = (
    ("ingest", "ingest.py", "ingest_flow"),
    ("segment", "segment.py", "segment_flow"),
    ("track", "track.py", "track_flow"),
    ("run", "pipeline.py", "pipeline_flow"),
)


class DeployError(LegaturaError):
    """The flows could not be registered as deployments."""


@dataclass(frozen=True)
class Deployed:
    flow: str
    deployment: str          # "flow/name", what `prefect deployment run` and run_deployment take
    deployment_id: str
    entrypoint: str


def source_root() -> Path:
    """The folder the entry points are relative to: the checkout (editable install) or site-packages/legatura."""
    return Path(__file__).resolve().parents[1]


def deployment_parameters(flow_name: str, settings: Settings, config: Path) -> dict:
    """Default parameters of a deployment: the config file, and for ingest the landing folder."""
    parameters: dict = {"config": str(config)}
    if flow_name == "ingest":
        parameters["paths"] = [str(settings.landing.path.resolve())]
    return parameters


def schedule_of(flow_name: str, settings: Settings) -> dict:
    """The [serve] schedule of a flow as deploy() arguments (ingest every few minutes, segments nightly),
    in the organisation's time zone."""
    from prefect.schedules import Cron, Interval

    zone = settings.organisation.timezone
    if flow_name == "ingest":
        return {"schedules": [Interval(timedelta(minutes=settings.serve.ingest_every_minutes), timezone=zone)]}
    if flow_name == "segment":
        return {"schedules": [Cron(settings.serve.segment_cron, timezone=zone)]}
    return {}


def ensure_work_pool(pool: str) -> bool:
    """Create the work pool as a process pool when it does not exist; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=pool, type="process", base_job_template=ProcessWorker.get_default_base_job_template()))
            return True


def deploy_flows(settings: Settings, config: Path, pool: str, name: str = "legatura",
                 with_schedules: bool = False) -> list[Deployed]:
    """Register every flow as deployment `<flow>/<name>` on the server in PREFECT_API_URL, for `pool`."""
    from prefect import Flow

    config = Path(config).resolve()
    if not config.is_file():
        raise DeployError(f"{config}: no such config file; a worker reads the settings from the file the "
                          "deployment names (run `legatura deploy` in the working folder or pass --config)")
    root = source_root()
    folder = Path(__file__).resolve().parent.relative_to(root).as_posix()
    deployed = []
    for flow_name, file, function in FLOWS:
        entrypoint = f"{folder}/{file}:{function}"
        try:
            runnable = Flow.from_source(source=str(root), entrypoint=entrypoint)
            deployment_id = runnable.deploy(
                name=name, work_pool_name=pool, parameters=deployment_parameters(flow_name, settings, config),
                build=False, push=False, print_next_steps=False, ignore_warnings=True,
                description=f"legatura {flow_name} for {config}",
                **(schedule_of(flow_name, settings) if with_schedules else {}))
        except (ValueError, RuntimeError) as exc:  # Prefect's own: unknown pool, unreachable server
            raise DeployError(f"deploying {entrypoint}: {exc}") from exc
        deployed.append(Deployed(flow_name, f"{flow_name}/{name}", str(deployment_id), entrypoint))
    return deployed

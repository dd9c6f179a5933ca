"""Shared fixtures: settings, a real DuckDB warehouse file, the real loader, a session-wide Prefect server."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from legatura.flows.config import Settings
from legatura.warehouse import db

DATA = Path(__file__).parent / "data"
FORMATS = DATA / "formats"


@pytest.fixture
def formats() -> Path:
    return FORMATS


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Demo defaults with the warehouse, landing and state folders inside tmp_path."""
    return Settings(
        warehouse={"path": tmp_path / "warehouse" / "legatura.duckdb",
                   "snapshot": tmp_path / "warehouse" / "analytics.duckdb"},
        landing={"path": tmp_path / "landing", "stable_seconds": 0.3},
        prefect={"state_dir": tmp_path / ".legatura"},
    )


@pytest.fixture
def warehouse(settings: Settings):
    """A migrated warehouse file; yields an open read-write connection."""
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    yield con
    con.close()


@pytest.fixture
def ingest(warehouse, settings):
    """Run the real loader over files (or folders), like `legatura ingest`, returning FileSummary list."""
    from legatura.flows.ingest import ingest_paths

    def run(*paths: Path, channel: str | None = None, **overrides):
        return ingest_paths(warehouse, [Path(p) for p in paths], settings, channel=channel)

    return run


def copy_sample(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / (name or src.name)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copyfile(src, dest)
    return dest


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """One local Prefect server for the whole session (started on demand, as the CLI does)."""
    from legatura.flows import prefect_runtime

    state = Path(os.environ.get("LEGATURA_TEST_PREFECT_STATE", tmp_path_factory.mktemp("prefect-state")))
    url = prefect_runtime.ensure_server(state, timeout=180)
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    yield url
    if old is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = old
    if "LEGATURA_TEST_PREFECT_STATE" not in os.environ:
        prefect_runtime.stop_server(state)

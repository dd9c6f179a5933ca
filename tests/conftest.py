"""Shared fixtures: settings, a real DuckDB warehouse file, the real loader, a session-wide Prefect server."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types
from pathlib import Path

import pytest
from legatura.flows import prefect_runtime
from legatura.flows.config import Settings
from legatura.warehouse import db


def _prefect_endpoint() -> tuple[Path, int]:
    if "_LEGATURA_TEST_PREFECT" in os.environ:  # this module imported a second time (tests.conftest)
        state, port = os.environ["_LEGATURA_TEST_PREFECT"].rsplit("|", 1)
        return Path(state), int(port)
    state = Path(os.environ.get("LEGATURA_TEST_PREFECT_STATE") or tempfile.mkdtemp(prefix="legatura-prefect-"))
    info = prefect_runtime.running_server(state)
    if info:
        return state, info["port"]
    return state, prefect_runtime._free_port()


_PREFECT_STATE, _PREFECT_PORT = _prefect_endpoint()
os.environ["_LEGATURA_TEST_PREFECT"] = f"{_PREFECT_STATE}|{_PREFECT_PORT}"
os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{_PREFECT_PORT}/api"
prefect_runtime.quiet_environment(_PREFECT_STATE)

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


# the current test's warehouse connection, for assert_accounted; one list even when this module is imported
# a second time as tests.conftest (test modules import helpers from it)
_OPEN_WAREHOUSE: list = sys.modules.setdefault("_legatura_test_warehouses", types.ModuleType("w")).__dict__.setdefault(
    "open", [])


@pytest.fixture
def warehouse(settings: Settings):
    """A migrated warehouse file; yields an open read-write connection."""
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    _OPEN_WAREHOUSE.append(con)
    yield con
    _OPEN_WAREHOUSE.remove(con)
    con.close()


@pytest.fixture
def ingest(warehouse, settings):
    """Run the real loader over files (or folders), like `legatura ingest`, returning FileSummary list."""
    from legatura.flows.ingest import ingest_paths

    def run(*paths: Path, channel: str | None = None, **overrides):
        return ingest_paths(warehouse, [Path(p) for p in paths], settings, channel=channel)

    return run


def assert_accounted(summaries, con=None) -> None:
    """Nothing lost, record by record: each file's records 1..rows_read have exactly one outcome in the
    warehouse (the accounting check), and the counts reported are the ones counted from those outcomes."""
    con = con if con is not None else _OPEN_WAREHOUSE[-1]
    written = [s for s in summaries if s.status not in ("skipped", "unchanged")]
    assert all(s.file_id is not None for s in written), [s for s in written if s.file_id is None]
    ids = [s.file_id for s in written]
    assert con.execute("SELECT file_id, path, problem FROM record_accounting_problems(?)", [ids]).fetchall() == []
    counted = dict(((row[0], row[1:]) for row in con.execute(
        "SELECT file_id, sum(last_record - first_record + 1) FILTER (WHERE outcome = 'loaded'),"
        " sum(last_record - first_record + 1) FILTER (WHERE outcome = 'duplicate'),"
        " sum(last_record - first_record + 1) FILTER (WHERE outcome = 'quarantined'), max(last_record)"
        " FROM record_outcome_ranges WHERE file_id IN (SELECT unnest(?)) GROUP BY file_id", [ids]).fetchall()))
    for s in written:
        got = tuple(n or 0 for n in counted.get(s.file_id, (0, 0, 0, 0)))
        assert got == (s.rows_ingested, s.rows_duplicate, s.rows_quarantined, s.rows_read), (s, got)


def copy_sample(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / (name or src.name)
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copyfile(src, dest)
    return dest


@pytest.fixture(scope="session")
def prefect_api():
    """One local Prefect server for the whole session (started on demand, as the CLI does).

    Its URL is fixed when this module is imported, before any test imports Prefect: Prefect reads its
    settings once, at import. Set LEGATURA_TEST_PREFECT_STATE to a folder to reuse a server across runs.
    """
    # stops by itself 10 minutes after the session, should the session die before stopping it
    url = prefect_runtime.ensure_server(_PREFECT_STATE, timeout=240, port=_PREFECT_PORT, idle_minutes=10)
    prefect_runtime.keep_alive(_PREFECT_STATE)
    assert url == os.environ["PREFECT_API_URL"], (url, os.environ["PREFECT_API_URL"])
    yield url
    if "LEGATURA_TEST_PREFECT_STATE" not in os.environ:
        prefect_runtime.stop_server(_PREFECT_STATE)

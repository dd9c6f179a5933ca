"""`legatura deploy`: the flows as deployments, run by a real `prefect worker start` on a process work pool."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pytest
from legatura.flows.deploy import FLOWS, deployment_parameters, source_root

from tests.conftest import write_config

BIN = Path(sys.executable).parent
SAMPLE = "unified_payments_2026-11-12.csv"   # 12 records: 9 loaded (8 gifts, 1 failed payment), 3 quarantined


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "legatura"), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_every_flow_entrypoint_exists_in_the_source_folder():
    root = source_root()
    for _, file, function in FLOWS:
        assert f"def {function}(" in (root / "flows" / file).read_text(encoding="utf-8")


def test_deployment_parameters_are_plain_values(tmp_path, settings):
    config = tmp_path / "legatura.toml"
    assert deployment_parameters("ingest", settings, config) == {
        "config": str(config), "paths": [str(tmp_path / "landing")]}
    assert deployment_parameters("segment", settings, config) == {"config": str(config)}


def test_schedules_follow_serve_in_the_organisations_time_zone(settings):
    from legatura.flows.deploy import schedule_of

    [nightly] = schedule_of("segment", settings)["schedules"]
    assert (nightly.cron, nightly.timezone) == (settings.serve.segment_cron, "Europe/Bucharest")
    [every] = schedule_of("ingest", settings)["schedules"]
    assert every.interval.total_seconds() == settings.serve.ingest_every_minutes * 60
    assert schedule_of("track", settings) == {}


@pytest.mark.subprocess
def test_deploy_needs_a_prefect_server_and_a_config_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    no_server = subprocess.run([str(BIN / "legatura"), "deploy"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=120, env=env)
    assert no_server.returncode == 1 and "set PREFECT_API_URL" in no_server.stderr
    no_file = run_cli("deploy", cwd=tmp_path, env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert no_file.returncode == 1
    assert no_file.stderr.startswith("Error: legatura.toml: no such config file"), no_file.stderr


def _start_worker(pool: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    with log.open("ab") as out:
        return subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", pool], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.subprocess
def test_ingest_and_segment_run_as_deployments_on_a_process_worker(tmp_path, formats, prefect_api):
    from prefect.deployments import run_deployment

    write_config(tmp_path)
    landing = tmp_path / "landing" / "stripe"
    landing.mkdir(parents=True)
    shutil.copy(formats / "stripe" / SAMPLE, landing)
    pool, name = f"test-{uuid.uuid4().hex[:8]}", "test"
    env = {"PREFECT_API_URL": prefect_api}
    created = subprocess.run([str(BIN / "prefect"), "work-pool", "create", pool, "--type", "process"],
                             capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = run_cli("deploy", "--pool", pool, "--name", name, cwd=tmp_path, env=env)
    assert deployed.returncode == 0, deployed.stderr
    for flow_name, _, _ in FLOWS:
        assert f"deployed {flow_name}/{name} " in deployed.stdout, deployed.stdout

    worker = _start_worker(pool, tmp_path / "worker.log")
    try:
        ingested = run_deployment(f"ingest/{name}", timeout=120)
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert ingested.state.is_completed(), (ingested.state, log[-3000:])
        with duckdb.connect(str(tmp_path / "warehouse" / "analytics.duckdb"), read_only=True) as snapshot:
            assert snapshot.execute("SELECT count(*) FROM donations").fetchone() == (8,)
            assert snapshot.execute(
                "SELECT channel, rows_read, rows_ingested, rows_quarantined FROM ingested_files").fetchall() == [
                ("stripe", 12, 9, 3)]

        segmented = run_deployment(f"segment/{name}", parameters={"as_of": "2026-11-30"}, timeout=120)
        assert segmented.state.is_completed(), segmented.state
        with duckdb.connect(str(tmp_path / "warehouse" / "analytics.duckdb"), read_only=True) as snapshot:
            runs = snapshot.execute("SELECT count(*), count(*) FILTER (WHERE status <> 'ok') FROM segment_runs "
                                    "WHERE as_of = DATE '2026-11-30'").fetchone()
            donors = snapshot.execute(
                "SELECT count(*) FROM segment_membership WHERE segment = 'donor_active'").fetchone()[0]
        assert runs[0] > 10 and runs[1] == 0 and donors > 0
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

"""The warehouse connection a flow holds for its tasks (tasks take plain values, never a connection)."""
from __future__ import annotations

import shutil

import pytest
from legatura.flows import session
from legatura.flows.discover import discover
from legatura.flows.ingest import ingest_batch_into_warehouse
from legatura.flows.track import track_warehouse
from legatura.warehouse import db

SAMPLE = "unified_payments_2026-11-12.csv"


def test_tasks_inside_hold_share_its_connection_and_lock(configure):
    settings = configure(warehouse={"lock_timeout_seconds": 0.5})
    other = settings.model_copy(update={"warehouse": settings.warehouse.model_copy(
        update={"path": settings.warehouse.path.with_name("other.duckdb"),
                "snapshot": settings.warehouse.path.with_name("other-snapshot.duckdb")})})
    with session.hold(settings, "test") as held:
        with session.connection(settings, "a task") as con:
            assert con is held          # the same connection: no second lock (which would wait, then fail)
        with session.connection(other, "a task elsewhere") as con:
            assert con is not held      # another warehouse: a connection of its own
    assert settings.warehouse.snapshot.exists() and other.warehouse.snapshot.exists()


def test_a_task_alone_opens_the_warehouse_and_publishes(config, settings, formats):
    landing = settings.landing.path / "stripe"
    landing.mkdir(parents=True)
    shutil.copy(formats / "stripe" / SAMPLE, landing)
    [summary] = ingest_batch_into_warehouse(discover([landing], settings), config)
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (12, 9, 3)
    assert track_warehouse(config).rows_changed >= 0
    con = db.connect(settings.warehouse.snapshot, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ingested_files").fetchall() == [(1,)]
    finally:
        con.close()


@pytest.mark.prefect
def test_ingest_flow_tracks_in_its_own_connection(configure, config, formats, prefect_api):
    """Were the tracking task to take the write lock again it would wait for the flow and fail after 0.5 s."""
    from legatura.flows.ingest import ingest_flow

    settings = configure(warehouse={"lock_timeout_seconds": 0.5})
    landing = settings.landing.path / "stripe"
    landing.mkdir(parents=True)
    shutil.copy(formats / "stripe" / SAMPLE, landing)
    result = ingest_flow([str(landing)], config)
    assert result.totals()["rows_ingested"] == 9 and result.tracking is not None

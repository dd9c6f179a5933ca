"""`legatura run`: the whole chain once, as a real Prefect flow run over real files, with a real SMTP server."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from legatura.flows.journeys import triggered_campaigns
from legatura.warehouse import db

from tests.sending import SECRET, SmtpServer, free_port

ROOT = Path(__file__).parents[1]
STRIPE = Path(__file__).parent / "data" / "formats" / "stripe" / "unified_payments_2026-11-12.csv"
AS_OF = date(2026, 11, 13)   # thank-you looks back 7 days: the gifts of 11-08 and 11-12
EXE = Path(sys.executable).parent / "legatura"


def smtp_section(port: int, tries: int = 2) -> dict:
    return {"host": "127.0.0.1", "port": port, "connect_tries": tries, "connect_wait_seconds": 0.05,
            "retry_base_seconds": 0, "rate_per_second": 0}


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / "stripe"
    folder.mkdir(parents=True)
    shutil.copy(STRIPE, folder / STRIPE.name)
    return folder


def query(settings, sql: str) -> list[tuple]:
    con = db.connect(settings.warehouse.path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_triggered_campaigns_are_the_shipped_journeys(configure):
    settings = configure(templates={"path": str(ROOT / "templates")})
    assert triggered_campaigns(settings) == ["thank-you", "volunteer-welcome"]


@pytest.mark.prefect
@pytest.mark.smtp
def test_run_ingests_composes_the_journeys_sends_once_and_tracks(tmp_path, configure, landing, prefect_api,
                                                                  monkeypatch):
    from legatura.flows.pipeline import pipeline_flow

    server = SmtpServer(tmp_path / "smtp").start()
    try:
        monkeypatch.setenv("LEGATURA_TOKENS__SECRET", SECRET)
        settings = configure(templates={"path": str(ROOT / "templates")}, smtp=smtp_section(server.port))
        config = str(tmp_path / "legatura.toml")
        first = pipeline_flow(config, AS_OF)
        assert first.failures == []
        thanks = {s.campaign: s for s in first.journeys.composed}
        assert set(thanks) == {"thank-you", "volunteer-welcome"}
        queued = thanks["thank-you"].queued
        assert queued > 0, thanks["thank-you"].lines()
        assert thanks["volunteer-welcome"].queued == 0      # gifts, no shifts in this landing
        # scheduled campaigns are not composed by run; every thank-you names its gift
        assert query(settings, "SELECT DISTINCT campaign FROM messages") == [("thank-you",)]
        sent = query(settings, "SELECT smtp_message_id FROM messages WHERE status = 'sent' AND channel = 'email'")
        assert len(sent) == first.sending.count("email", "sent") == queued
        received = [r["message_id"] for r in server.received()]
        assert sorted(received) == sorted(s[0] for s in sent)               # each once
        assert first.tracking is not None and any(line.startswith("tracking:") for line in first.lines())
        assert any(line.startswith("journeys: thank-you: queued") for line in first.lines())
        assert any(line.startswith("send: email: sent") for line in first.lines())

        # the same chain again: nothing loaded, queued or sent twice
        second = pipeline_flow(config, AS_OF)
        assert second.failures == []
        assert second.ingest.totals()["rows_ingested"] == 0
        assert second.journeys.queued == 0 and second.sending.count("email", "sent") == 0
        assert len(server.received()) == len(received)
        assert query(settings, "SELECT count(*), count(DISTINCT trigger_ref) FROM messages")[0] == (
            thanks["thank-you"].audience, thanks["thank-you"].audience)
    finally:
        server.stop()


@pytest.mark.prefect
@pytest.mark.subprocess
def test_run_with_the_smtp_server_down_says_one_line_exits_1_and_keeps_the_mail_queued(tmp_path, configure,
                                                                                         landing, prefect_api):
    settings = configure(templates={"path": str(ROOT / "templates")}, smtp=smtp_section(free_port(), tries=1))
    result = subprocess.run([str(EXE), "run", "--as-of", AS_OF.isoformat()], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "LEGATURA_TOKENS__SECRET": SECRET})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: send: SMTP server 127.0.0.1:{settings.smtp.port} cannot be reached "
                            "after 1 tries"), error
    queued = query(settings, "SELECT count(*) FROM messages WHERE campaign = 'thank-you' AND status = 'queued' "
                             "AND channel = 'email'")[0][0]
    assert queued > 0 and error.endswith(f"{queued} email(s) stay queued")
    assert query(settings, "SELECT count(*) FROM messages WHERE status IN ('sending', 'sent', 'failed')") == [(0,)]
    # the steps after send still ran, and the snapshot was published
    assert "journeys: thank-you: queued" in result.stdout and "tracking:" in result.stdout
    assert settings.warehouse.snapshot.exists()

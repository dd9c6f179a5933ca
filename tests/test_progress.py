"""Progress of a flow run reaches the listener of the caller that ran it, and nobody else's."""
from __future__ import annotations

import shutil
import threading

import pytest
from legatura.flows import progress


def test_progress_without_a_listener_only_logs():
    class Summary:
        def line(self) -> str:
            return "a.csv: loaded 1"

    progress.file_done(Summary())   # no listener, no flow run: a log line, no error
    progress.files_found(3)
    progress.notify("waiting")


def test_listener_is_per_thread_and_restored():
    seen, other = [], []
    with progress.listening(notify=seen.append):
        thread = threading.Thread(target=lambda: other.append(progress._listener.get().notify))
        thread.start()
        thread.join()
        progress.notify("mine")
    progress.notify("after")
    assert seen == ["mine"] and other == [None]


@pytest.mark.prefect
def test_ingest_flow_reports_each_file_to_the_callers_listener(tmp_path, config, settings, formats, prefect_api):
    from legatura.flows.ingest import ingest_flow

    landing = settings.landing.path / "stripe"
    landing.mkdir(parents=True)
    shutil.copy(formats / "stripe" / "unified_payments_2026-11-12.csv", landing)
    (landing / "notes.md").write_text("not an export")
    files, totals = [], []
    with progress.listening(on_file=files.append, on_total=totals.append):
        result = ingest_flow([str(landing)], config, track=False)
    assert totals == [2]
    assert [(f.path, f.status) for f in files] == [(f.path, f.status) for f in result.files]
    assert sorted(f.status for f in files) == ["loaded", "skipped"]
    assert result.totals()["rows_ingested"] == 9 and settings.warehouse.snapshot.exists()

"""The on-demand local Prefect server: started once, reused, stopped by itself when nobody uses it."""
from __future__ import annotations

import time

import pytest
from legatura.flows import prefect_runtime


@pytest.mark.prefect
def test_local_server_is_reused_then_stops_itself_when_idle(tmp_path):
    state = tmp_path / ".legatura"
    messages: list[str] = []
    url = prefect_runtime.ensure_server(state, timeout=240, notify=messages.append, idle_minutes=0.1)
    assert len(messages) == 1 and "starting a local Prefect server" in messages[0]
    info = prefect_runtime.server_info(state)
    try:
        # a second command finds it healthy and starts nothing
        assert prefect_runtime.ensure_server(state, notify=messages.append, idle_minutes=0.1) == url
        assert len(messages) == 1
        # nobody touches it for 6 s (idle limit): it stops, and says so in its log
        deadline = time.monotonic() + 60
        while prefect_runtime._pid_alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(1)
        assert not prefect_runtime._pid_alive(info["pid"])
        assert prefect_runtime.server_info(state) is None
        assert "stopping the local Prefect server" in (state / "prefect" / "server.log").read_text()
    finally:
        prefect_runtime.stop_server(state)

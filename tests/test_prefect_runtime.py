"""The user's local Prefect server: one per user for every working folder, started once, reused, never
confused with a process that reused its pid, retried on a taken port, and never stopped under a command."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from legatura.flows import prefect_runtime
from legatura.flows.config import load_settings
from legatura.flows.processes import pid_alive

from tests.waiting import eventually

EXE = Path(sys.executable).with_name("legatura")


def test_default_state_dir_is_the_users_not_the_working_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for folder in ("ngo-a", "ngo-b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "legatura.toml").write_text('[organisation]\nname = "X"\n', encoding="utf-8")
    a = load_settings(tmp_path / "ngo-a" / "legatura.toml", env={})
    monkeypatch.chdir(tmp_path / "ngo-b")
    b = load_settings(None, env={})
    assert a.prefect.state_dir == b.prefect.state_dir == tmp_path / "state" / "legatura" / "prefect"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert load_settings(None, env={}).prefect.state_dir == Path.home() / ".local/state/legatura/prefect"


def test_stale_server_json_with_a_reused_pid_is_not_alive_and_never_signalled(tmp_path):
    """server.json names a pid now used by an unrelated process (`sleep`): not our server, not stopped."""
    state = tmp_path / "state"
    state.mkdir()
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (state / "server.json").write_text(json.dumps(
            {"pid": stranger.pid, "url": "http://127.0.0.1:9/api", "port": 9}))
        assert prefect_runtime.server_info(state)["pid"] == stranger.pid
        assert prefect_runtime.running_server(state) is None
        assert prefect_runtime.stop_server(state) is False
        time.sleep(0.3)
        assert stranger.poll() is None  # still running: no signal reached it or its group
        # and the CLI says so, leaving it alone too
        result = subprocess.run([str(EXE), "server", "stop"], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60, env={**os.environ, "LEGATURA_PREFECT__STATE_DIR": str(state)})
        assert result.returncode == 0 and result.stdout.strip() == "was not running", result
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def _server_pids(state: Path) -> int:
    info = prefect_runtime.server_info(state)
    return info["pid"] if info else 0


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.subprocess
def test_two_working_folders_share_one_server(tmp_path, monkeypatch):
    """`cd ngo-a; legatura …` then `cd ngo-b; legatura …`: the second finds the first's server."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for folder in ("ngo-a", "ngo-b"):
        (tmp_path / folder).mkdir()
    state = load_settings(None, env={}).prefect.state_dir
    messages: list[str] = []
    monkeypatch.chdir(tmp_path / "ngo-a")
    a = load_settings(None, env={})
    url = prefect_runtime.ensure_server(a.prefect.state_dir, timeout=240, notify=messages.append)
    try:
        assert len(messages) == 1
        assert f"for user {prefect_runtime._user()}" in messages[0] and str(state) in messages[0]
        assert "later legatura commands in any folder reuse it" in messages[0]
        pid = _server_pids(state)
        monkeypatch.chdir(tmp_path / "ngo-b")
        b = load_settings(None, env={})
        assert prefect_runtime.ensure_server(b.prefect.state_dir, notify=messages.append) == url
        assert len(messages) == 1 and _server_pids(state) == pid
        # another process in the other folder sees the same server
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "LEGATURA_"))}
        shown = subprocess.run([str(EXE), "server", "status"], cwd=tmp_path / "ngo-b", capture_output=True,
                               text=True, timeout=60, env=env)
        assert shown.stdout.strip() == f"running: {url} (pid {pid}; state in {state})", shown
        assert not (tmp_path / "ngo-a" / ".legatura").exists() and not (tmp_path / "ngo-b" / ".legatura").exists()
    finally:
        prefect_runtime.stop_server(state)
        prefect_runtime.release_lease(state)
    assert not pid_alive(pid) and prefect_runtime.running_server(state) is None


@pytest.mark.slow
@pytest.mark.prefect
def test_port_taken_after_choosing_it_is_retried_on_another(tmp_path):
    state = tmp_path / "state"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        messages: list[str] = []
        try:
            url = prefect_runtime.ensure_server(state, timeout=240, notify=messages.append, port=taken)
            assert url != f"http://127.0.0.1:{taken}/api" and prefect_runtime._healthy(url)
            assert prefect_runtime.running_server(state)["url"] == url
            assert any(f"port {taken} was taken" in m for m in messages), messages
            assert f"Port {taken} is already in use" in (state / "server.log").read_text(errors="replace")
        finally:
            prefect_runtime.stop_server(state)
            prefect_runtime.release_lease(state)


@pytest.mark.slow
@pytest.mark.prefect
def test_idle_stop_waits_for_a_live_command_then_stops(tmp_path):
    """A command holding its lease keeps the server even when last use looks old; released, it stops."""
    state = tmp_path / "state"
    url = prefect_runtime.ensure_server(state, timeout=240, idle_minutes=0.05)  # 3 s idle limit
    pid = prefect_runtime.server_info(state)["pid"]
    try:
        # this process is a live command (ensure_server took its lease); make the last use look ancient
        long_ago = time.time() - 3600
        os.utime(state / "last-used", (long_ago, long_ago))
        time.sleep(8)  # well past the idle limit and several idle checks
        assert prefect_runtime._healthy(url) and prefect_runtime.running_server(state)
        # the command ends: the server stops by itself and says so
        prefect_runtime.release_lease(state)
        assert eventually(lambda: not pid_alive(pid), timeout=60)
        assert prefect_runtime.server_info(state) is None
        assert "stopping the local Prefect server" in (state / "server.log").read_text()
    finally:
        prefect_runtime.stop_server(state)
        prefect_runtime.release_lease(state)


@pytest.mark.slow
@pytest.mark.prefect
def test_command_arriving_during_the_idle_stop_waits_then_gets_a_fresh_server(tmp_path):
    """The supervisor holds the lease lock exclusively while it stops: a new command waits, then starts anew."""
    state = tmp_path / "state"
    prefect_runtime.ensure_server(state, timeout=240, idle_minutes=0.05)
    first = prefect_runtime.server_info(state)["pid"]
    prefect_runtime.release_lease(state)
    long_ago = time.time() - 3600
    os.utime(state / "last-used", (long_ago, long_ago))
    assert eventually(lambda: "stopping the local Prefect server" in (state / "server.log").read_text(), timeout=60)
    try:
        # arriving while it stops (or just after): never handed the dying server
        url = prefect_runtime.ensure_server(state, timeout=240, idle_minutes=0.05)
        assert prefect_runtime._healthy(url)
        second = prefect_runtime.server_info(state)["pid"]
        assert second != first and not pid_alive(first)
    finally:
        prefect_runtime.stop_server(state)
        prefect_runtime.release_lease(state)

"""Where Prefect runs: one local Prefect server per user, started on demand and reused, so commands stay fast.

Without PREFECT_API_URL, Prefect 3 starts a temporary server inside every process (10-30 s, and on a
fresh home it can exceed Prefect's own start-up timeout). legatura instead starts one background
`prefect server start` on 127.0.0.1 the first time a flow runs, with its home, pid file and log in the
user's state directory (`$XDG_STATE_HOME/legatura/prefect`, `prefect.state_dir`), and every later command
of that user, in any working folder, reuses it. Telemetry and analytics are off.

Files in the state directory: `server.json` (pid, url, port of the supervisor process), `server.log`,
`home/` (PREFECT_HOME: the server's database), `start.lock` (one command starts it at a time),
`in-use.lock` (each legatura process using the server holds a shared lock on it for its whole life; the
supervisor stops the idle server only under an exclusive lock, so it never stops under a command), and
`last-used` (its mtime: when the server was last seen in use).
"""
from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from legatura.flows.processes import command_line, pid_alive
from legatura.transforms.errors import LegaturaError

QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
}


SUPERVISOR_MODULE = "legatura.flows.prefect_runtime"
PORT_IN_USE = 98          # the supervisor's exit status when its port was taken before the server bound it
PORT_TRIES = 4


class PrefectUnavailable(LegaturaError):
    """The local Prefect server could not be started or reached."""


def _home(state_dir: Path) -> Path:
    return Path(state_dir).resolve()


def _healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status == 200
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _is_supervisor(pid: int, state_dir: Path) -> bool:
    """pid is alive and is legatura's supervisor of this state directory (not a process that reused the pid)."""
    if not pid_alive(pid):
        return False
    args = command_line(pid)
    return SUPERVISOR_MODULE in args and str(_home(state_dir)) in args


def server_info(state_dir: Path) -> dict | None:
    info_file = _home(state_dir) / "server.json"
    try:
        info = json.loads(info_file.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None


def running_server(state_dir: Path) -> dict | None:
    """The local server's pid, url and port when its supervisor runs, else None (a stale server.json too)."""
    info = server_info(state_dir)
    return info if info and _is_supervisor(info["pid"], state_dir) else None


def quiet_environment(state_dir: Path) -> None:
    """Environment every legatura process gives Prefect before importing it."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(_home(state_dir) / "home"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def ensure_server(state_dir: Path, timeout: float = 120.0,
                  notify: Callable[[str], None] | None = None, port: int | None = None,
                  idle_minutes: float = 0) -> str:
    """Return the API URL of the user's running local server, starting it first if needed.

    The calling process holds a lease on the server from here on (see hold_lease). With `idle_minutes`,
    the server stops itself once no legatura process has held a lease for that long. A port taken between
    choosing it and the server binding it is retried on another port (PORT_TRIES in all).
    """
    home = _home(state_dir)
    home.mkdir(parents=True, exist_ok=True)
    hold_lease(state_dir)  # first: from here on the idle stop cannot take the server away
    touch(state_dir)
    with open(home / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands starting at once share one server
        info = running_server(state_dir)
        if info and _healthy(info["url"]):
            return info["url"]
        deadline = time.monotonic() + timeout
        if info:  # started but not yet answering (another command started it): wait for it
            if _wait_healthy(info["url"], lambda: not pid_alive(info["pid"]), deadline):
                return info["url"]
            raise _unavailable(home, info["url"], timeout)
        url = ""
        for attempt in range(PORT_TRIES):
            chosen = port if port and attempt == 0 else _free_port()
            url = f"http://127.0.0.1:{chosen}/api"
            process = _start_supervisor(home, chosen, idle_minutes)
            (home / "server.json").write_text(json.dumps({"pid": process.pid, "url": url, "port": chosen}))
            if attempt == 0 and notify:
                notify(f"starting the local Prefect server for user {_user()} on {url} (state in {home}); "
                       "later legatura commands in any folder reuse it")
            if _wait_healthy(url, lambda: process.poll() is not None, deadline):
                return url
            if process.poll() != PORT_IN_USE:
                break
            if notify:
                notify(f"port {chosen} was taken before the Prefect server could bind it; trying another")
        raise _unavailable(home, url, timeout)


def _start_supervisor(home: Path, port: int, idle_minutes: float) -> subprocess.Popen:
    env = {**os.environ, **QUIET_ENV, "PREFECT_HOME": str(home / "home")}
    env.pop("PREFECT_API_URL", None)
    with open(home / "server.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", SUPERVISOR_MODULE, str(home), str(port), str(idle_minutes)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, cwd=home,
        )


def _wait_healthy(url: str, gone: Callable[[], bool], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if _healthy(url):
            return True
        if gone():
            return False
        time.sleep(0.3)
    return False


def _unavailable(home: Path, url: str, timeout: float) -> PrefectUnavailable:
    log = home / "server.log"
    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
    return PrefectUnavailable(
        f"the local Prefect server did not answer on {url} within {timeout:.0f} s; "
        f"see {log} or set prefect.mode = 'ephemeral'. Last log lines: {tail.strip()[-300:]}")


def touch(state_dir: Path) -> None:
    """Mark the local server as used now (it stops itself after prefect.idle_minutes unused)."""
    used = _home(state_dir) / "last-used"
    used.parent.mkdir(parents=True, exist_ok=True)
    used.touch()


_leases: dict[Path, int] = {}


def hold_lease(state_dir: Path) -> None:
    """Hold a shared lock on the server for the rest of this process (released when it exits, even killed).

    Waits while the supervisor is stopping an idle server (it holds the lock exclusively meanwhile), so a
    command never gets a healthy answer from a server about to stop.
    """
    home = _home(state_dir)
    if home in _leases:
        return
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / "in-use.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _leases[home] = fd


def release_lease(state_dir: Path) -> None:
    """Give up this process's lease (a long-lived process done with Prefect; tests)."""
    fd = _leases.pop(_home(state_dir), None)
    if fd is not None:
        touch(state_dir)
        os.close(fd)


def _stop_if_idle(home: Path, idle_minutes: float, child: subprocess.Popen) -> bool:
    """Stop the server when unused for `idle_minutes` and no process holds a lease; True when stopped."""
    fd = os.open(home / "in-use.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            touch(home)  # a legatura process holds a lease: in use now
            return False
        try:
            idle = time.time() - (home / "last-used").stat().st_mtime
        except OSError:
            idle = 0.0
        if idle <= idle_minutes * 60:
            return False
        # still under the exclusive lock: a command arriving now waits until the server is gone
        print(f"legatura: no use for {idle_minutes:g} min, stopping the local Prefect server", flush=True)
        _stop_child(child)
        _forget(home)
        return True
    finally:
        os.close(fd)


def _stop_child(child: subprocess.Popen) -> None:
    child.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=20)
    child.kill()
    child.wait()


def _forget(home: Path) -> None:
    info = server_info(home)
    if info and info.get("pid") == os.getpid():
        (home / "server.json").unlink(missing_ok=True)


def supervise(state_dir: Path, port: int, idle_minutes: float) -> int:
    """Run `prefect server start` as a child; stop it after `idle_minutes` without use (0: never).

    Exits PORT_IN_USE when the server could not bind its port because something else holds it.
    """
    home = _home(state_dir)
    child = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--analytics-off", "--no-ui"], stdin=subprocess.DEVNULL)

    def stop(*_: object) -> None:
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    check_seconds = min(5.0, max(0.5, idle_minutes * 60 / 6)) if idle_minutes > 0 else 5.0
    while child.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=check_seconds)
        if child.poll() is None and idle_minutes > 0 and _stop_if_idle(home, idle_minutes, child):
            return 0
    _forget(home)
    if child.returncode and _port_taken(port):
        return PORT_IN_USE
    return child.returncode or 0


def stop_server(state_dir: Path) -> bool:
    """Stop the local server if its supervisor runs; True when one was stopped. Never signals another process."""
    info = running_server(state_dir)
    if info is None:
        return False
    pid = info["pid"]
    # the supervisor leads a session of its own (its server is in it); anything else gets no group signal
    group = os.getpgid(pid) == pid if pid_alive(pid) else False
    kill = os.killpg if group else os.kill
    with contextlib.suppress(OSError):
        kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)
    (_home(state_dir) / "server.json").unlink(missing_ok=True)
    return True


def configure(mode: str, state_dir: Path, timeout: float,
              notify: Callable[[str], None] | None = None, idle_minutes: float = 30) -> str:
    """Point this process's Prefect at the right API before `import prefect`; returns a description."""
    if "prefect" in sys.modules and not os.environ.get("PREFECT_API_URL"):
        # Prefect reads its settings once, at import: set afterwards, they would be ignored and every
        # flow would start a temporary server of its own
        raise PrefectUnavailable("internal error: Prefect was imported before legatura configured it")
    quiet_environment(state_dir)
    if os.environ.get("PREFECT_API_URL"):
        return f"Prefect API {os.environ['PREFECT_API_URL']}"
    if mode == "ephemeral":
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(int(timeout)))
        return "Prefect ephemeral mode (a temporary server inside this process)"
    if mode == "external":
        raise PrefectUnavailable("prefect.mode = 'external' needs PREFECT_API_URL in the environment")
    url = ensure_server(state_dir, timeout, notify, idle_minutes=idle_minutes)  # holds a lease from here on
    os.environ["PREFECT_API_URL"] = url
    return f"local Prefect server {url}"


_IN_PROCESS = contextlib.ExitStack()   # settings this process's own flow runs keep until it exits


def runs_in_this_process() -> None:
    """Settings for the flow runs a command makes in its own process (call after `configure`; imports Prefect).

    No flow-run heartbeat: the command's process is the run's liveness (its terminal sees it end), and
    Prefect's heartbeat thread sleeps in one-second steps that every flow run joins as it ends: up to a
    second added to every command. Runs on a worker or under `serve` keep Prefect's default heartbeat.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if not _IN_PROCESS._exit_callbacks:
        _IN_PROCESS.enter_context(temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}))


if __name__ == "__main__":  # the supervisor process ensure_server starts
    sys.exit(supervise(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))

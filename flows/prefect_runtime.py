"""Where Prefect runs: a local Prefect server started on demand and reused, so commands stay fast.

Without PREFECT_API_URL, Prefect 3 starts a temporary server inside every process (10-30 s, and on a
fresh home it can exceed Prefect's own start-up timeout). legatura instead starts one background
`prefect server start` on 127.0.0.1 the first time a flow runs, with its home under the state folder
(`.legatura/prefect/`), and every later command reuses it. Telemetry and analytics are off.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

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


class PrefectUnavailable(LegaturaError):
    """The local Prefect server could not be started or reached."""


def _home(state_dir: Path) -> Path:
    return state_dir.resolve() / "prefect"


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child not yet reaped by its parent (a test process) is a zombie: not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def server_info(state_dir: Path) -> dict | None:
    info_file = _home(state_dir) / "server.json"
    try:
        return json.loads(info_file.read_text())
    except (OSError, ValueError):
        return None


def running_server(state_dir: Path) -> dict | None:
    """The local server's pid, url and port when it runs, else None."""
    info = server_info(state_dir)
    return info if info and _pid_alive(info["pid"]) else None


def quiet_environment(state_dir: Path) -> None:
    """Environment every legatura process gives Prefect before importing it."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(_home(state_dir) / "home"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def ensure_server(state_dir: Path, timeout: float = 120.0,
                  notify: Callable[[str], None] | None = None, port: int | None = None,
                  idle_minutes: float = 0) -> str:
    """Return the API URL of the running local server, starting it first if needed.

    With `idle_minutes`, the server stops itself once no legatura process has used it for that long.
    """
    home = _home(state_dir)
    touch(state_dir)  # also creates the home folder
    with open(home / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands starting at once share one server
        info = running_server(state_dir)
        if info and _healthy(info["url"]):
            return info["url"]
        if info:
            # started but not yet answering (another command started it): wait for it below
            url, pid = info["url"], info["pid"]
        else:
            port = port or _free_port()
            url = f"http://127.0.0.1:{port}/api"
            env = {**os.environ, **QUIET_ENV, "PREFECT_HOME": str(home / "home")}
            env.pop("PREFECT_API_URL", None)
            log = open(home / "server.log", "ab")  # noqa: SIM115 - handed to the child
            process = subprocess.Popen(
                [sys.executable, "-m", "legatura.flows.prefect_runtime", str(state_dir.resolve()), str(port),
                 str(idle_minutes)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, cwd=home,
            )
            pid = process.pid
            (home / "server.json").write_text(json.dumps({"pid": pid, "url": url, "port": port}))
            if notify:
                notify(f"starting a local Prefect server on {url} (first run only; later commands reuse it)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _healthy(url):
                return url
            if not _pid_alive(pid):
                break
            time.sleep(0.3)
        tail = (home / "server.log").read_text(errors="replace")[-800:] if (home / "server.log").exists() else ""
        raise PrefectUnavailable(
            f"the local Prefect server did not answer on {url} within {timeout:.0f} s; "
            f"see {home / 'server.log'} or set prefect.mode = 'ephemeral'. Last log lines: {tail.strip()[-300:]}")


def touch(state_dir: Path) -> None:
    """Mark the local server as used now (it stops itself after prefect.idle_minutes unused)."""
    used = _home(state_dir) / "last-used"
    used.parent.mkdir(parents=True, exist_ok=True)
    used.touch()


def keep_alive(state_dir: Path, every_seconds: float = 60.0) -> threading.Thread:
    """While this process lives (a watcher, a receiver), keep the local server from stopping as idle."""
    def beat() -> None:
        while True:
            touch(state_dir)
            time.sleep(every_seconds)

    thread = threading.Thread(target=beat, name="legatura-prefect-keepalive", daemon=True)
    thread.start()
    return thread


def supervise(state_dir: Path, port: int, idle_minutes: float) -> int:
    """Run `prefect server start` as a child; stop it after `idle_minutes` without use (0: never)."""
    home = _home(state_dir)
    child = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
         "--analytics-off", "--no-ui"], stdin=subprocess.DEVNULL)

    def stop(*_: object) -> None:
        child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while child.poll() is None:
        time.sleep(5)
        if idle_minutes > 0:
            try:
                idle = time.time() - (home / "last-used").stat().st_mtime
            except OSError:
                idle = 0.0
            if idle > idle_minutes * 60:
                print(f"legatura: no use for {idle_minutes:g} min, stopping the local Prefect server", flush=True)
                child.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=20)
                child.kill()
    info = server_info(state_dir)
    if info and info.get("pid") == os.getpid():
        (home / "server.json").unlink(missing_ok=True)
    return child.returncode or 0


def stop_server(state_dir: Path) -> bool:
    """Stop the local server if it runs; True when one was stopped."""
    info = running_server(state_dir)
    if info is None:
        return False
    with contextlib.suppress(OSError):
        os.killpg(info["pid"], signal.SIGTERM)
    for _ in range(50):
        if not _pid_alive(info["pid"]):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(OSError):
            os.killpg(info["pid"], signal.SIGKILL)
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
    url = ensure_server(state_dir, timeout, notify, idle_minutes=idle_minutes)
    os.environ["PREFECT_API_URL"] = url
    keep_alive(state_dir)
    return f"local Prefect server {url}"


if __name__ == "__main__":  # the supervisor process ensure_server starts
    sys.exit(supervise(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))

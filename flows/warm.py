"""Warm start: the `legatura` commands that run flows start from a process that has already imported them.

Importing Prefect costs 1.5-2 s, more than the work of a routine ingest. After the first such command, a
warm process stays behind for the user (one per installation and per state directory, beside the local
Prefect server it points at): Prefect, Polars, DuckDB and legatura imported, no thread started, no
connection open. Each later command is a fork of it, so it starts with a clean state of its own, exactly as
a fresh process would, minus the imports:

- `legatura` (this module's `main`) sends the warm process its arguments, working folder, environment and
  its stdin/stdout/stderr themselves (SCM_RIGHTS), gets the command's pid back, forwards Ctrl-C, SIGTERM and
  SIGHUP to it, and exits with its exit status. The command writes to the user's own terminal and files.
- The forked command checks before any work that it is what a fresh process would be: the same settings
  decide the Prefect state directory and mode, no PREFECT_* variable in the caller's environment, the local
  server still the one the warm process was pointed at, legatura's code unchanged since it was imported.
  Otherwise it exits NOT_HERE and `legatura` runs the command the ordinary way (cold): nothing is lost but
  the time.
- The socket lives in a folder only the user can open; the warm process answers only its own user
  (SO_PEERCRED). It stops after IDLE_SECONDS unused, when its code changes, or when the server goes.

`LEGATURA_WARM=0` (or `[prefect] warm_start = false`) runs every command cold. Commands that do not run
flows (init, config, help, the servers) always run cold.

This module imports only the standard library at the top: it is what every `legatura` command loads first.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

from legatura.flows.processes import command_line, pid_alive, user_state_dir

WARM_COMMANDS = frozenset({"ingest", "segment", "track", "compose", "send", "run"})
NOT_HERE = 119          # the forked command's exit status: "run me cold" (no legatura command exits 119)
IDLE_SECONDS = 30 * 60
LOG_LIMIT = 1 << 20     # warm.log is rotated past this size
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SERVE = "import sys; from legatura.flows.warm import serve; sys.exit(serve(sys.argv[1]))"
_SOURCE_DIRS = ("flows", "flows/demo", "transforms", "transforms/channels", "warehouse")


def _package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def code_fingerprint() -> str:
    """The interpreter and every legatura module as they are on disk now (name, size, mtime): 12 hex digits."""
    import hashlib

    digest = hashlib.sha256(sys.executable.encode())
    root = _package_root()
    for folder in _SOURCE_DIRS:
        with os.scandir(root / folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.endswith(".py") and entry.is_file():
                    stat = entry.stat()
                    digest.update(f"{folder}/{entry.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:12]


def socket_path(fingerprint: str) -> Path:
    return user_state_dir().parent / "warm" / f"{fingerprint}.sock"


def _parse(argv: list[str]) -> tuple[str | None, str | None]:
    """(--config value, command word) of `legatura [--config X] COMMAND ...`; no command word for --help,
    --version or an unknown option before it (Click answers those, cold)."""
    config, words = None, iter(argv)
    for arg in words:
        if arg == "--config":
            config = next(words, None)
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            return config, None
        else:
            return config, arg
    return config, None


def _command_of(argv: list[str]) -> str | None:
    return _parse(argv)[1]


def _wanted(argv: list[str]) -> bool:
    return (_command_of(argv) in WARM_COMMANDS and os.environ.get("LEGATURA_WARM", "1") != "0"
            and not any(key.startswith("PREFECT_") for key in os.environ)
            and hasattr(socket, "send_fds") and hasattr(socket, "SO_PEERCRED") and hasattr(os, "fork"))


# ---- the command the user runs ---------------------------------------------------------------------------

def main() -> None:
    """The `legatura` entry point: the warm process when it can run this command, else the ordinary CLI."""
    argv = sys.argv[1:]
    if _wanted(argv):
        fingerprint = code_fingerprint()
        status = _run_warm(socket_path(fingerprint), argv)
        if status is not None:
            raise SystemExit(status)
        try:
            _run_cold()
        finally:
            _leave_warm_process(fingerprint)
    _run_cold()


def _run_cold() -> None:
    from legatura.flows.cli import main as cli_main

    cli_main()


def _ours(path: Path, kind: int) -> bool:
    """`path` is of this kind, owned by this user, and (a folder) open to nobody else; never a link."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    private = kind != stat.S_IFDIR or stat.S_IMODE(info.st_mode) & 0o077 == 0
    return stat.S_IFMT(info.st_mode) == kind and info.st_uid == os.getuid() and private


def _peer_uid(conn: socket.socket) -> int:
    return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]


def _run_warm(path: Path, argv: list[str]) -> int | None:
    """Run the command in a fork of the warm process; its exit status, or None: run it cold."""
    # the request carries the environment (secrets) and the terminal: only to this user's own warm process
    if len(os.fsencode(path)) > 100 or not _ours(path.parent, stat.S_IFDIR) or not _ours(path, stat.S_IFSOCK):
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(2.0)
        conn.connect(os.fspath(path))
        if _peer_uid(conn) != os.getuid():
            raise PermissionError("the warm process's socket is another user's")
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                              "encoding": sys.stdout.encoding, "errors": sys.stdout.errors}).encode()
        socket.send_fds(conn, [struct.pack("!I", len(request)) + request], [0, 1, 2])
        reader = conn.makefile("rb")
        conn.settimeout(30.0)   # the fork answers at once; a warm process that does not is not used
        first = json.loads(reader.readline() or b"{}")
    except (OSError, ValueError):
        conn.close()
        return None
    pid = first.get("pid")
    if not isinstance(pid, int):
        conn.close()
        return None
    previous = {sig: signal.signal(sig, lambda signum, _frame: _signal(pid, signum)) for sig in FORWARDED}
    try:
        conn.settimeout(None)
        result = json.loads(reader.readline() or b"{}")   # a forwarded signal does not interrupt it (PEP 475)
    except (OSError, ValueError):
        result = {}
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        conn.close()
    if result.get("cold"):
        return None
    if "exit" not in result:   # the warm process died: the command (a process of its own) may still run
        while pid_alive(pid):
            time.sleep(0.1)
        print(f"Error: the warm legatura process stopped before it could report how the command ended (see "
              f"{path.parent}/warm.log); what the command committed is in the warehouse", file=sys.stderr)
        return 1
    return int(result["exit"])


def _leave_warm_process(fingerprint: str) -> None:
    """After a cold command: start the warm process for the next ones, unless one runs or it cannot help."""
    path = socket_path(fingerprint)
    if path.exists() or len(os.fsencode(path)) > 100 or os.environ.get("LEGATURA_WARM") == "0":
        return
    from legatura.flows import prefect_runtime
    from legatura.flows.cli import state

    settings = state.settings   # as the command read them (None: it stopped before reading any)
    if (settings is None or not settings.prefect.warm_start or settings.prefect.mode != "local-server"
            or settings.prefect.state_dir.resolve() != user_state_dir().resolve()
            or prefect_runtime.running_server(user_state_dir()) is None):
        return   # the warm process could not run this command's like: do not leave one behind
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    log_path = path.parent / "warm.log"
    if log_path.exists() and log_path.stat().st_size > LOG_LIMIT:
        log_path.replace(log_path.with_suffix(".log.1"))   # one old log kept
    with open(log_path, "ab") as log:
        # run by -c, not -m: a forked command's usage lines then name `legatura`, as Click names a script
        subprocess.Popen([sys.executable, "-c", SERVE, fingerprint], cwd=path.parent, env=env,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# ---- the warm process --------------------------------------------------------------------------------------

def serve(fingerprint: str) -> int:
    """The warm process: import everything, then fork one command per connection until idle or stale."""
    from legatura.flows import prefect_runtime

    state_dir = user_state_dir()
    server = prefect_runtime.running_server(state_dir)
    if server is None:
        return 0
    prefect_runtime.quiet_environment(state_dir)
    os.environ["PREFECT_API_URL"] = server["url"]
    _import_everything()
    if fingerprint != code_fingerprint():
        return 0   # the code changed while it was imported
    path = socket_path(fingerprint)
    if not _ours(path.parent, stat.S_IFDIR):
        _log(f"{path.parent} is not a folder of this user's alone: no warm process")
        return 0
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(os.fspath(path))
    except OSError:
        return 0   # another warm process of the same code got there first
    os.chmod(path, 0o600)
    listener.listen(16)
    pid_file = path.with_suffix(".pid")
    pid_file.write_text(str(os.getpid()))
    _log(f"warm process {os.getpid()} ready for {state_dir} ({server['url']})")
    try:
        return _serve(listener, path, fingerprint, state_dir, server["url"])
    finally:   # only the warm process gets here: a forked command always ends in _finish
        path.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
        listener.close()


def stop_warm_processes() -> int:
    """Stop every warm process of this user's default state directory (`legatura server stop`); how many."""
    folder = socket_path("x").parent
    stopped = 0
    for pid_file in folder.glob("*.pid") if folder.is_dir() else []:
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            pid = 0
        if pid and SERVE in command_line(pid):   # never signal a process that reused the pid
            _signal(pid, signal.SIGTERM)
            stopped += 1
        pid_file.unlink(missing_ok=True)
        pid_file.with_suffix(".sock").unlink(missing_ok=True)
    return stopped


# what a flow run imports on first use (Prefect's engine, its dependencies, legatura's presets): measured
# by listing sys.modules before and after a warm ingest and segment
_FIRST_USE = ("prefect.flow_engine", "prefect.task_engine", "prefect.utilities.visualization", "fastapi",
              "opentelemetry.metrics", "opentelemetry._logs", "anyio._backends._asyncio", "http.cookies",
              "flufl.bounce", "phonenumbers", "typer._adapters")


def _import_everything() -> None:
    """Every legatura module and what a flow run imports on first use; nothing that starts a thread."""
    import importlib
    import pkgutil

    import duckdb  # noqa: F401
    import polars  # noqa: F401
    from legatura import flows, transforms, warehouse

    names = [*_FIRST_USE, *(info.name for package in (flows, transforms, warehouse)
                            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."))]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:   # noqa: BLE001 - best effort: whatever is not imported here is imported on use
            continue


def _serve(listener: socket.socket, path: Path, fingerprint: str, state_dir: Path, url: str) -> int:
    from legatura.flows import prefect_runtime

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    running: dict[int, socket.socket] = {}
    orphans: set[int] = set()    # commands whose caller went away: stopped as Ctrl-C would stop them
    last_used = time.monotonic()
    while not stop or running:
        watched = [c for p, c in running.items() if p not in orphans]
        ready, _, _ = select.select([listener, wake_r, *watched], [], [], 5.0)
        if wake_r in ready:
            os.read(wake_r, 512)
        _reap(running)
        orphans &= set(running)
        for pid, conn in list(running.items()):
            if conn in ready and pid not in orphans and not _peek(conn):
                orphans.add(pid)
                _signal(pid, signal.SIGINT)
        if running:
            last_used = time.monotonic()
        stale = (fingerprint != code_fingerprint() or not path.exists()
                 or (prefect_runtime.running_server(state_dir) or {}).get("url") != url)
        if stale or time.monotonic() - last_used > IDLE_SECONDS:
            stop.append(1)
        if listener in ready and not stop:
            conn, _ = listener.accept()
            pid = _start_command(conn, listener, wake_r, wake_w, state_dir, url)
            if pid is not None:
                running[pid] = conn
            last_used = time.monotonic()
        elif listener in ready:
            listener.accept()[0].close()   # stopping: the caller runs the command cold
    _log(f"warm process {os.getpid()} stopped")
    return 0


def _reap(running: dict[int, socket.socket]) -> None:
    for pid in list(running):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 1 << 8
        if done:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            conn = running.pop(pid)
            _log(f"command {pid} {'handed back to run cold' if code == NOT_HERE else f'exited {code}'}")
            answer = {"cold": True} if code == NOT_HERE else {"exit": code}
            try:
                conn.sendall(json.dumps(answer).encode() + b"\n")
            except OSError:
                pass
            conn.close()


def _peek(conn: socket.socket) -> bytes:
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b"?"
    except OSError:
        return b""


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _start_command(conn: socket.socket, listener: socket.socket, wake_r: int, wake_w: int, state_dir: Path,
                   url: str) -> int | None:
    """Read one request (only from this user) and fork its command; the child's pid."""
    try:
        uid = _peer_uid(conn)
        if uid != os.getuid():
            raise PermissionError(f"a request from uid {uid}")
        conn.settimeout(5.0)
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        size = struct.unpack("!I", data[:4])[0]
        while len(data) < 4 + size:
            more = conn.recv(1 << 20)
            if not more:
                raise ValueError("request cut short")
            data += more
        request = json.loads(data[4:4 + size])
        if len(fds) != 3:
            raise ValueError("the request did not pass stdin, stdout and stderr")
    except (OSError, ValueError, struct.error) as exc:
        _log(f"refused a request: {exc}")
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:   # the command
        listener.close()
        os.close(wake_r)
        os.close(wake_w)
        try:
            code = _child(conn, fds, request, state_dir, url)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:   # noqa: BLE001 - the CLI's main reports everything; this is a last resort
            import traceback

            traceback.print_exc()
            code = 1
        _finish(code)
    for fd in fds:
        os.close(fd)
    word = _command_of(request.get("argv") or [])
    _log(f"command {pid}: {word if word in WARM_COMMANDS else '(other)'}")   # the command word only: no names
    conn.settimeout(None)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return pid


def _finish(code: int) -> None:
    """End the command as a fresh process ends, less the interpreter's teardown: stdio flushed, then the
    exit handlers (Prefect sends what it queued: events, logs; logging flushes its handlers), then out.
    Tearing down 1,800 imported modules costs about a second and keeps nothing: every thread left is a
    daemon once the handlers ran, and every file legatura writes is closed by its `with` block."""
    import atexit

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _child(conn: socket.socket, fds: list[int], request: dict, state_dir: Path, url: str) -> int:
    """In the fork: become the process the user started, check it is one the warm start may run, run it."""
    conn.close()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    encoding, errors = request.get("encoding") or "utf-8", request.get("errors") or "strict"
    sys.stdin = open(0, "r", encoding=encoding, closefd=False)   # noqa: SIM115 - the process's own stdio
    sys.stdout = open(1, "w", encoding=encoding, errors=errors, closefd=False,
                      buffering=1 if os.isatty(1) else -1)
    sys.stderr = open(2, "w", encoding=encoding, errors="backslashreplace", closefd=False, buffering=1)
    os.chdir(request["cwd"])
    kept = {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}
    os.environ.clear()
    os.environ.update(request["env"])
    if any(k.startswith("PREFECT_") for k in os.environ):
        return NOT_HERE
    os.environ.update(kept)
    sys.argv = ["legatura", *request["argv"]]
    if not _same_as_fresh(state_dir, url):
        return NOT_HERE
    from legatura.flows.cli import main as cli_main

    cli_main()
    return 0


def _same_as_fresh(state_dir: Path, url: str) -> bool:
    """This command's settings put Prefect where the warm process's imports did, and the server is the same."""
    from legatura.flows import prefect_runtime
    from legatura.flows.config import load_settings
    from legatura.transforms.errors import LegaturaError

    try:
        settings = load_settings(_parse(sys.argv[1:])[0])
    except LegaturaError:
        return False   # the cold run reports it, as it always does
    if (settings.prefect.mode != "local-server" or not settings.prefect.warm_start
            or settings.prefect.state_dir.resolve() != state_dir.resolve()):
        return False
    prefect_runtime.quiet_environment(settings.prefect.state_dir)
    return prefect_runtime.ensure_server(settings.prefect.state_dir, settings.prefect.startup_timeout_seconds,
                                         idle_minutes=settings.prefect.idle_minutes) == url


def _log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)


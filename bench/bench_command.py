"""Bench the whole `legatura ingest` command: 10,000 new SMS into 5,000,000 interactions and 1,000,000 messages.

Usage: python bench/bench_command.py [--runs 2] [--keep-server]
On a copy of the cached, tracked base warehouse (bench/warehouse_5m.py), as a user runs it: a subprocess
`legatura ingest sms.jsonl` (interpreter start, imports, the flow run on the local Prefect server, parse +
load, tracking brought up to date, checkpoint, snapshot). The first run starts the local Prefect server
and publishes the first snapshot, and leaves the warm process behind (flows/warm.py); the routine runs
after it, forks of that process, are the figure (target under 3 s). One more run of the same command,
cold and in-process, times its parts: the split.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from legatura.warehouse import db
from legatura.warehouse import snapshot as snapshots

NEW_ROWS = 10_000
CONTACTS = 250_000                                   # as bench/warehouse_5m.py builds them
WORK = Path(__file__).resolve().parent / "out" / "command"


def phone_of(contact: int) -> str:
    return f"+40722{contact:06d}"                     # as bench/warehouse_5m.py gives them


def write_sms(path: Path, batch: int) -> Path:
    """10,000 inbound texts from known contacts (by phone), dated inside the base's messages (June 2025)."""
    lines = []
    for i in range(NEW_ROWS):
        contact = (batch * NEW_ROWS + i) * 7919 % CONTACTS
        lines.append(json.dumps({
            "MessageSid": f"SMbench{batch:02d}{i:06d}", "From": phone_of(contact), "To": "+40316301234",
            "Body": f"Bună ziua, întrebarea {batch}-{i}",
            "received_at": f"2025-06-{1 + i % 28:02d}T{8 + i % 12:02d}:{i % 60:02d}:00+03:00"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def environment() -> dict[str, str]:
    # the command finds (or starts) the user's local Prefect server and warm process, as a user's shell
    # would; the user's state home is the bench's own
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LEGATURA_", "XDG_STATE"))}
    return {**env, "XDG_STATE_HOME": str(WORK / "state")}


def wait_warm(seconds: float = 30.0) -> float:
    """Seconds until the warm process the first command left behind answers (flows/warm.py)."""
    from legatura.flows import warm

    os.environ["XDG_STATE_HOME"] = str(WORK / "state")
    started = time.perf_counter()
    while not warm.socket_path(warm.code_fingerprint()).exists():
        if time.perf_counter() - started > seconds:
            raise SystemExit("the warm process did not start (see bench/out/command/state/legatura/warm/warm.log)")
        time.sleep(0.1)
    return time.perf_counter() - started


def run_command(toml: Path, sms: Path) -> float:
    exe = Path(sys.executable).with_name("legatura")
    started = time.perf_counter()
    done = subprocess.run([str(exe), "--config", str(toml), "ingest", str(sms)], cwd=WORK, env=environment(),
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"legatura ingest failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


class Split:
    """Wall time of each part of one in-process run of the command."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.parts[label] = self.parts.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)


def run_in_process(toml: Path, sms: Path) -> tuple[float, Split]:
    """The same command through the CLI's own entry point, its parts timed."""
    for key in [k for k in os.environ if k.startswith(("PREFECT_", "LEGATURA_"))]:
        del os.environ[key]
    os.chdir(WORK)
    from legatura.flows import cli

    split = Split()
    original_connect = db.connect

    class Timed:
        """The warehouse connection, its CHECKPOINT and close timed."""

        def __init__(self, con) -> None:
            self._con = con

        def execute(self, sql, *args):
            started = time.perf_counter()
            try:
                return self._con.execute(sql, *args)
            finally:
                if sql == "CHECKPOINT":
                    split.parts["checkpoint + close"] = split.parts.get("checkpoint + close", 0.0) + (
                        time.perf_counter() - started)

        def close(self) -> None:
            started = time.perf_counter()
            self._con.close()
            split.parts["checkpoint + close"] = split.parts.get("checkpoint + close", 0.0) + (
                time.perf_counter() - started)

        def __getattr__(self, name):
            return getattr(self._con, name)

    db.connect = lambda *args, **kwargs: Timed(original_connect(*args, **kwargs))
    split.wrap(db, "connect", "lock, open, migrate")
    split.wrap(db, "migrate", "lock, open, migrate")
    split.wrap(snapshots, "after_write", "snapshot")
    original_start = cli.start_prefect

    def start_prefect(settings) -> None:
        started = time.perf_counter()
        original_start(settings)
        split.parts["Prefect: find the local server"] = time.perf_counter() - started
        from legatura.flows import ingest  # imports Prefect: only once it is configured

        split.wrap(ingest, "discover", "discover")
        split.wrap(ingest, "ingest_batch_task", "parse + load")
        split.wrap(ingest, "track_task", "tracking")
        split.wrap(ingest, "ingest_flow", "flow run")
        split.parts["import the flows (Prefect)"] = time.perf_counter() - started - split.parts[
            "Prefect: find the local server"]

    cli.start_prefect = start_prefect
    sys.argv = ["legatura", "--config", str(toml), "ingest", str(sms)]
    started = time.perf_counter()
    try:
        cli.main()
    except SystemExit as exc:   # the CLI ends in Click's standalone mode: status 0 is success
        if exc.code not in (0, None):
            raise
    total = time.perf_counter() - started
    return total, split


def split_run(toml: Path, sms: Path) -> None:
    """The child of --split: one in-process run, its parts printed as JSON on the last line."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    total, split = run_in_process(toml, sms)
    used = resource.getrusage(resource.RUSAGE_SELF)
    inner = ("discover", "lock, open, migrate", "parse + load", "tracking", "checkpoint + close", "snapshot")
    parts = dict(split.parts)
    parts["Prefect: flow and task runs"] = parts.pop("flow run") - sum(parts.get(k, 0.0) for k in inner)
    parts["CLI (settings, summary)"] = total - sum(parts.values())
    print(json.dumps({"total": total, "cpu": used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime,
                      "parts": parts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="routine runs to time (after the first)")
    parser.add_argument("--keep-server", action="store_true", help="leave the local Prefect server running")
    parser.add_argument("--split", nargs=2, type=Path, metavar=("TOML", "SMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.split:
        return split_run(*args.split)

    from warehouse_5m import base_warehouse, working_copy  # imports Prefect (tracking)

    base = base_warehouse()
    warehouse = working_copy(base, WORK / "warehouse" / "legatura.duckdb")
    target = WORK / "warehouse" / "analytics.duckdb"
    for stale in (target, snapshots.SnapshotState.path(target)):
        stale.unlink(missing_ok=True)
    toml = WORK / "legatura.toml"
    toml.write_text(f'[warehouse]\npath = "{warehouse}"\nsnapshot = "{target}"\n', encoding="utf-8")
    files = [write_sms(WORK / f"sms-{n}.jsonl", n) for n in range(args.runs + 2)]
    load = os.getloadavg()[0]
    print(f"machine load average {load:.1f} on {os.cpu_count()} cores (other work shares them)")

    first = run_command(toml, files[0])
    print(f"legatura ingest of {NEW_ROWS:,} new SMS into 5,000,000 interactions, first run "
          f"(local Prefect server start, first snapshot): {first:.2f} s")
    print(f"  the warm process it left behind answered {wait_warm():.1f} s later")
    routine = [run_command(toml, sms) for sms in files[1:-1]]
    for n, seconds in enumerate(routine, 1):
        print(f"legatura ingest of {NEW_ROWS:,} new SMS into 5,000,000 interactions and 1,000,000 messages, "
              f"routine run {n}: {seconds:.2f} s (target < 3 s)")
    ordered = sorted(routine)
    print(f"routine median {ordered[len(ordered) // 2]:.2f} s of {len(routine)} (target < 3 s), "
          f"fastest {ordered[0]:.2f} s, slowest {ordered[-1]:.2f} s")
    state = snapshots.SnapshotState.read(target)
    print(f"  last snapshot: {target.stat().st_size / 1e6:,.0f} MB published by {state.method} in "
          f"{state.seconds:.2f} s (delta: only the blocks that differ written into the spare generation)")

    # the split: the same command cold, in a fresh process of its own that times its parts (Prefect must not
    # be imported before the CLI configures it, and this process imported it to build the base); a warm
    # command pays neither the interpreter start nor the imports
    started = time.perf_counter()
    child = subprocess.run([sys.executable, __file__, "--split", str(toml), str(files[-1])], env=environment(),
                           capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"the timed run failed: {child.stderr[-2000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"one more routine run, cold (LEGATURA_WARM=0), its parts timed: {elapsed:.2f} s in all; in the command's process "
          f"{report['total']:.2f} s (cpu {report['cpu']:.2f} s), of which:")
    for label, seconds in report["parts"].items():
        print(f"  {label:32} {seconds:6.2f} s")
    print(f"  {'interpreter start, imports':32} {elapsed - report['total']:6.2f} s (outside the command's timer)")
    if not args.keep_server:
        exe = Path(sys.executable).with_name("legatura")
        subprocess.run([str(exe), "--config", str(toml), "server", "stop"], cwd=WORK, env=environment(),
                       capture_output=True)


if __name__ == "__main__":
    main()

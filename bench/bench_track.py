"""Bench response-time tracking at 5,000,000 interactions and 1,000,000 messages: full vs incremental.

Usage: python bench/bench_track.py [--interactions N] [--messages N] [--new N] [--business-hours]
On a copy of the cached base warehouse (bench/warehouse_5m.py): a full recompute, the watermark check
when nothing changed, then N (10,000) new interactions of the base's ten kinds and the incremental run
that brings tracking up to date; a full recompute after it proves it equal (0 rows to change).
"""
from __future__ import annotations

import argparse
import resource
import time

from legatura.flows.config import Settings
from legatura.flows.track import bring_tracking_up_to_date, compute_response_times
from legatura.warehouse import db
from warehouse_5m import OUT, add_interactions, base_warehouse, working_copy


def timed(label: str, work):
    cpu = _cpu_seconds()
    started = time.perf_counter()
    result = work()
    print(f"{label}: {time.perf_counter() - started:.2f} s (cpu {_cpu_seconds() - cpu:.2f} s)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--donations", type=int, default=500_000)
    parser.add_argument("--new", type=int, default=10_000, help="new interactions for the incremental run")
    parser.add_argument("--business-hours", action="store_true", help="count the SLA in RO working hours")
    args = parser.parse_args()

    base = base_warehouse(args.interactions, args.messages, args.donations)
    path = working_copy(base, OUT / "bench-track.duckdb")
    settings = Settings(tracking={"business_hours": args.business_hours})
    size = f"{args.interactions:,} interactions and {args.messages:,} messages"
    con = db.connect(path)
    db.migrate(con)
    con.execute("SET enable_progress_bar = false")
    timed(f"track, full recompute over {size} (no headline)",
          lambda: compute_response_times(con, settings, headline=False))
    timed("track, watermark check when nothing changed", lambda: bring_tracking_up_to_date(con, settings))
    add_interactions(con, args.interactions, args.new, args.messages)
    summary = timed(f"track, incremental after {args.new:,} new interactions into {size} (target < 1 s)",
                    lambda: bring_tracking_up_to_date(con, settings))
    print(f"  {summary.run_line()}")
    full = timed("track, full recompute of the same (for comparison)",
                 lambda: compute_response_times(con, settings, headline=False))
    print(f"  the full recompute changed {full.rows_changed} row(s) the incremental run left (must be 0)")
    con.close()
    path.unlink()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()

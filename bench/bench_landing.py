"""Landing benchmarks (issue 8): the cost of finding rows cut short, and of refusing a zip bomb.

Run: .venv/bin/python bench/bench_landing.py [--rows 1000000]
Prints read_export seconds for a Stripe CSV whose last column is filled (no check needed) and empty (the
delimiter count runs), beside Polars' bare read_csv of the same bytes; and a 200 MB zip bomb's discover time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import polars as pl
from legatura.flows.config import Settings
from legatura.flows.discover import discover
from legatura.transforms.text import read_export

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import write_stripe  # noqa: E402


def median_seconds(work, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stripe.csv"
        write_stripe(path, args.rows, max(1, args.rows // 5))
        filled = path.read_bytes()
        empty = filled.replace("Crăciun 2026\n".encode(), b"\n")     # the last column empty on every row
        for label, data in (("last column filled", filled), ("last column empty", empty)):
            bare = median_seconds(lambda: pl.read_csv(data, infer_schema=False))
            ours = median_seconds(lambda: read_export(data, "stripe.csv"))
            print(f"read_export, {args.rows:,} rows, {label}: {ours:.2f} s (Polars read_csv alone {bare:.2f} s, "
                  f"x{ours / bare:.2f})")
        bomb = Path(folder) / "bomb.zip"
        with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            with zipped.open("members.csv", "w") as member:
                for _ in range(200):
                    member.write(bytes(1 << 20))
        seconds = median_seconds(lambda: discover([bomb], Settings()))
        print(f"zip bomb of 200 MB in {bomb.stat().st_size:,} bytes: refused by discover in {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    main()

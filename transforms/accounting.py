"""Record-level accounting: what became of each record a file was read as, as runs of record numbers.

A record is quarantined when it has a quarantine row, loaded when at least one of its rows was new to the
warehouse, duplicate when all its rows were already there. A record with no row anywhere, or with rows in
quarantine and in a frame, is a preset's bug: it is kept that way (a gap, two outcomes), so the accounting
check (warehouse/checks/record_outcomes.sql) reports it instead of the counts hiding it.
"""
from __future__ import annotations

import polars as pl

OUTCOMES = ("loaded", "duplicate", "quarantined")
RANGES = {"file_index": pl.Int64, "first_record": pl.Int64, "last_record": pl.Int64, "outcome": pl.String}
COUNTS = {"file_index": pl.Int64, **{outcome: pl.Int64 for outcome in OUTCOMES}}


def record_outcomes(quarantined: pl.Series, seen: pl.Series, fresh: pl.Series, bases: list[int]) -> pl.DataFrame:
    """Outcome ranges (file_index, first_record, last_record 1-based within the file, outcome) of a batch.

    The series hold batch record numbers (each file's 0-based numbers plus its base, `bases` ascending):
    `quarantined` one per quarantine row, `seen` every frame row's, `fresh` those of rows that were new.
    """
    # outcomes as their position in OUTCOMES while sorting a million records (integers sort fast)
    fresh_records = fresh.unique().implode()
    per_record = pl.concat([
        quarantined.cast(pl.Int64).drop_nulls().to_frame("record_no").with_columns(outcome=pl.lit(2, pl.UInt8)),
        seen.cast(pl.Int64).unique().to_frame("record_no").with_columns(
            outcome=pl.when(pl.col("record_no").is_in(fresh_records)).then(pl.lit(0, pl.UInt8))
            .otherwise(pl.lit(1, pl.UInt8))),
    ]).sort("record_no", "outcome")
    starts = pl.Series("base", bases, dtype=pl.Int64)
    # a number below the first base (a preset bug) stays in the first file, as a record number below 1
    file_index = (starts.search_sorted(per_record.get_column("record_no"), side="right") - 1).clip(0).cast(pl.Int64)
    per_record = per_record.with_columns(file_index=file_index).with_columns(
        record=pl.col("record_no") - starts.gather(file_index) + 1)
    # a new run wherever the file or the outcome changes or a number is skipped or repeated
    breaks = ((pl.col("file_index") != pl.col("file_index").shift(1))
              | (pl.col("outcome") != pl.col("outcome").shift(1))
              | (pl.col("record_no") != pl.col("record_no").shift(1) + 1)).fill_null(True)
    return (per_record.with_columns(run=breaks.cum_sum())
            .group_by("run", maintain_order=True)
            .agg(pl.col("file_index").first(), first_record=pl.col("record").first(),
                 last_record=pl.col("record").last(), outcome=pl.col("outcome").first())
            .with_columns(outcome=pl.col("outcome").replace_strict(dict(enumerate(OUTCOMES)),
                                                                   return_dtype=pl.String))
            .select(list(RANGES)).cast(RANGES))


def whole_files(records: list[int], outcome: str) -> pl.DataFrame:
    """One range per file covering all its records with one outcome (a copy: all duplicate)."""
    return pl.DataFrame({"file_index": range(len(records)), "first_record": [1] * len(records),
                         "last_record": records, "outcome": [outcome] * len(records)},
                        schema=RANGES).filter(pl.col("last_record") >= 1)


def outcome_counts(ranges: pl.DataFrame, files: int) -> pl.DataFrame:
    """Records per outcome for each of `files` files, counted from the ranges (a file with none: zeros)."""
    size = pl.col("last_record") - pl.col("first_record") + 1
    counted = ranges.group_by("file_index").agg(
        **{outcome: size.filter(pl.col("outcome") == outcome).sum() for outcome in OUTCOMES})
    every = pl.DataFrame({"file_index": range(files)}, schema={"file_index": pl.Int64})
    return every.join(counted, on="file_index", how="left", maintain_order="left").fill_null(0).cast(COUNTS)

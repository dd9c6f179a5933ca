"""Closing quarantine rows that a later file made good: a row cut short, then loaded from the complete export.

A CSV row with fewer fields than its header (read_export's "(cut short)") or a JSON line that ends mid-object
is what a file caught mid-write, or cut, leaves. When a file loaded later holds one line that starts with
exactly that text and goes on (the complete record), and that line was not quarantined itself, the open
quarantine row is marked resolved (resolved_at, resolved_by = that file and line): the record is in the
warehouse, the problem is closed, its history kept.
"""
from __future__ import annotations

import polars as pl
from legatura.transforms.text import CUT_SHORT, completed_records, decode_text

CUT_REASONS = (f"%{CUT_SHORT}%", "not a complete JSON object%")


def resolve_cut_rows(con, files: list[tuple[str, str, bytes]]) -> int:
    """Mark resolved the open cut rows of these channels that `files` (path, channel, bytes), just loaded in
    the current transaction, hold complete; returns how many."""
    channels = sorted({channel for _, channel, _ in files})
    # rows quarantined in this transaction (quarantined_at = now()) count too, but not against their own file
    open_rows = con.execute(
        "SELECT rowid, channel, raw, source_file, quarantined_at = now() FROM quarantine WHERE resolved_at IS NULL"
        " AND raw IS NOT NULL AND channel IN (SELECT unnest(?)) AND (reason LIKE ? OR reason LIKE ?)",
        [channels, *CUT_REASONS]).fetchall()
    resolved: dict[int, str] = {}
    for path, channel, raw in files if open_rows else []:
        cut = [(rowid, text) for rowid, of, text, source, fresh in open_rows
               if of == channel and rowid not in resolved and not (fresh and source == path)]
        if not cut:
            continue
        found = completed_records([text for _, text in cut], decode_text(raw)[0])
        if not found:
            continue
        # the complete line must have loaded (or been a duplicate): not quarantined in this file itself
        refused = {row[0] for row in con.execute(
            "SELECT line_or_key FROM quarantine WHERE source_file = ? AND quarantined_at = now()", [path]).fetchall()}
        for index, line in found.items():
            if str(line) not in refused:
                resolved[cut[index][0]] = f"{path} line {line}"
    if resolved:
        frame = pl.DataFrame({"row_id": list(resolved), "resolved_by": list(resolved.values())},
                             schema={"row_id": pl.Int64, "resolved_by": pl.String})
        con.register("batch_resolved", frame.to_arrow())
        con.execute("UPDATE quarantine SET resolved_at = now(), resolved_by = r.resolved_by FROM batch_resolved r"
                    " WHERE quarantine.rowid = r.row_id")
        con.unregister("batch_resolved")
    return len(resolved)

"""Loading one source file into the warehouse: parse, validate, resolve identities, insert, account."""
from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
from legatura.flows.config import Settings
from legatura.flows.load_identity import apply_contact_tags, apply_contacts, apply_merges
from legatura.flows.resolve import resolve_cut_rows
from legatura.transforms import accounting, identity, records
from legatura.transforms.canonical import LIAISON, PARTY, conform
from legatura.transforms.channels import PRESETS, QUARANTINE_SCHEMA, ParseResult, UnknownChannel, preset_module
from legatura.transforms.errors import LegaturaError
from legatura.transforms.money import minor_digits, rates_to_base, with_fx_rate
from legatura.transforms.text import shown_name
from legatura.transforms.validate import validate_frames
from legatura.warehouse.db import Interrupted, fetch_one, is_interrupt, query_frame, rollback

# warehouse table and column for each canonical frame
TARGET = {
    "interactions": "interactions", "donations": "donations", "refunds": "donation_refunds",
    "shifts": "volunteer_shifts", "partners": "partners", "consents": "consent_events",
    "suppressions": "suppressions", "contacts": "contact_records", "ignored": "ignored_records",
}
log = logging.getLogger("legatura.ingest")
RAW_HEAD_BYTES = 2000   # of a file quarantined whole, quarantine.raw keeps this much of the file itself
# columns the warehouse works out itself when a row is inserted (the one FX conversion: 005_money.sql)
DERIVED = {"donations": {"amount_base": "to_base_currency(amount, fx_rate, $digits)",
                         "net_amount_base": "to_base_currency(amount, fx_rate, $digits)"}}


class UnaccountedRecords(LegaturaError):
    """Some records of a file have no outcome, or more than one: the preset that read it lost or doubled them."""


@dataclass
class FileSummary:
    """What ingesting one file did: each count is counted from the file's per-record outcomes."""

    path: str
    channel: str
    sha256: str = ""
    status: str = "loaded"          # loaded | already_ingested | unchanged | failed | skipped
    rows_read: int = 0
    rows_ingested: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    contacts_created: int = 0
    contacts_merged: int = 0
    error: str | None = None
    file_id: int | None = None       # its ledger row (record_outcome_ranges and quarantine rows name it)

    def line(self) -> str:
        """One line for a person watching the run (control characters in names escaped)."""
        path, error = shown_name(self.path), shown_name(self.error or "")
        if self.status == "failed":
            return f"{path}: FAILED, quarantined whole: {error}"
        if self.status == "unchanged":
            return f"{path}: already ingested, unchanged"
        if self.status == "skipped":
            return f"{path}: skipped, {error}"
        return (f"{path} [{shown_name(self.channel)}]: read {self.rows_read}, loaded {self.rows_ingested}, "
                f"duplicate {self.rows_duplicate}, quarantined {self.rows_quarantined}")


def sha256_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_source(raw: bytes, source: str, channel: str, settings: Settings) -> ParseResult:
    """Run the preset (or the [mappings.<name>] section) that reads this channel."""
    if channel in settings.mappings:
        from legatura.transforms.channels import mapping

        return mapping.parse(raw, source, settings, channel)
    if channel not in PRESETS:
        raise UnknownChannel(f"unknown channel {channel!r}: use a preset ({', '.join(PRESETS)}) "
                             f"or add a [mappings.{channel}] section to legatura.toml")
    return preset_module(channel).parse(raw, source, settings)


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, channel: str, settings: Settings) -> FileSummary:
    """Ingest one file in one transaction; a file that cannot be read is quarantined whole."""
    return ingest_files(con, [(path, channel, None)], settings)[0]


@dataclass
class _Unit:
    """A parsed file waiting to be loaded with the others of its batch."""

    path: Path
    raw: bytes
    parsed: ParseResult
    summary: FileSummary
    base: int = 0                    # its record_no offset in the batch

    @property
    def last(self) -> int:
        """Its last record_no in the batch (a file of no records still takes one number)."""
        return self.base + max(self.parsed.records_read, 1) - 1


def ingest_files(con: duckdb.DuckDBPyConnection, files: list[tuple[Path, str, bytes | None]],
                 settings: Settings) -> list[FileSummary]:
    """Ingest files: each is parsed on its own, then the files of one channel are loaded together in one
    transaction (a Maildir of thousands of messages is a few loads, not thousands). Should the warehouse
    refuse a batch, its files are loaded one by one, and a file it still refuses is quarantined whole."""
    summaries: list[FileSummary | None] = [None] * len(files)
    units: dict[str, list[tuple[int, _Unit]]] = {}
    first_of_sha: dict[str, int] = {}
    copies: list[tuple[int, int]] = []   # (index, index of the same bytes earlier in the batch)
    contents = [raw if raw is not None else path.read_bytes() for path, _, raw in files]
    shas = [sha256_of(raw) for raw in contents]
    ledger = _ledger_of(con, shas)
    already = []
    for index, ((path, channel, _), raw, sha) in enumerate(zip(files, contents, shas)):
        summary = FileSummary(path=str(path), channel=channel, sha256=sha)
        if sha in first_of_sha:
            copies.append((index, first_of_sha[sha]))
            continue
        if sha in ledger:
            # the ledger knows these bytes: under this path (unchanged) or another (a copy, recorded as such)
            rows_read, paths = ledger[sha]
            # every record a duplicate (an unchanged file writes nothing; a copy writes those outcomes)
            summary.rows_read = summary.rows_duplicate = rows_read
            summary.status = "unchanged" if str(path) in paths else "already_ingested"
            if summary.status == "already_ingested":
                already.append((summary, len(raw)))
            summaries[index] = summary
            continue
        try:
            parsed = parse_source(raw, str(path), channel, settings)
        except UnknownChannel:
            raise
        except (Exception, pl.exceptions.PanicException) as exc:  # noqa: BLE001 - one bad file must not stop the run
            reason = str(exc).removeprefix(f"{path}: ") or type(exc).__name__
            summaries[index] = record_unreadable(con, path, channel, f"file could not be read: {reason}", raw,
                                                 traceback.format_exc(limit=3)[-2000:])
            continue
        first_of_sha[summary.sha256] = index
        units.setdefault(channel, []).append((index, _Unit(path, raw, parsed, summary)))
    if already:
        _write_copies(con, already)
    for batch in units.values():
        for index, summary in _load_batch(con, batch, settings):
            summaries[index] = summary
    for index, original in copies:   # the same bytes twice in one batch: the second is a copy
        first = summaries[original]
        copy = FileSummary(path=str(files[index][0]), channel=files[index][1], sha256=first.sha256,
                           status="already_ingested", rows_read=first.rows_read)
        if first.status == "failed":
            copy = record_unreadable(con, files[index][0], files[index][1], first.error or "failed", contents[index])
        else:
            _write_copies(con, [(copy, len(contents[index]))])
        summaries[index] = copy
    return summaries


def _ledger_of(con, shas: list[str]) -> dict[str, tuple[int, set[str]]]:
    """For each sha256 the ledger has loaded: its records read and every path it was seen under."""
    rows = con.execute(
        "SELECT sha256, arg_min(rows_read, ingested_at) FILTER (WHERE status IN ('loaded', 'already_ingested')),"
        " list(path) FROM ingested_files WHERE sha256 IN (SELECT unnest(?)) GROUP BY sha256", [shas]).fetchall()
    return {sha: (rows_read, set(paths)) for sha, rows_read, paths in rows if rows_read is not None}


def _load_batch(con, batch: list[tuple[int, _Unit]], settings: Settings) -> list[tuple[int, FileSummary]]:
    """Load parsed files in one transaction; on refusal retry them one by one."""
    con.execute("BEGIN TRANSACTION")
    try:
        outcomes, quarantine = _load_units(con, [unit for _, unit in batch], settings)
        _write_accounts(con, [(unit.summary, len(unit.raw)) for _, unit in batch], outcomes, quarantine)
        resolve_cut_rows(con, [(str(unit.path), unit.summary.channel, unit.raw) for _, unit in batch])
        _assert_accounted(con, [unit.summary for _, unit in batch])
        con.execute("COMMIT")
        return [(index, unit.summary) for index, unit in batch]
    except BaseException as exc:  # noqa: BLE001 - nothing half-written, run goes on
        if is_interrupt(exc):  # Ctrl-C is no fault of the file: nothing of the batch kept, nothing quarantined
            raise Interrupted(committed=not rollback(con)) from exc
        if not isinstance(exc, (Exception, pl.exceptions.PanicException)):
            rollback(con)
            raise
        con.execute("ROLLBACK")
        if len(batch) > 1:
            return [result for item in batch for result in _load_batch(con, [item], settings)]
        index, unit = batch[0]
        detail = None if isinstance(exc, UnaccountedRecords) else traceback.format_exc(limit=5)[-4000:]
        return [(index, record_unreadable(con, unit.path, unit.summary.channel,
                                          f"file could not be loaded: {type(exc).__name__}: {exc}", unit.raw,
                                          detail))]


def _assert_accounted(con, summaries: list[FileSummary]) -> None:
    """Refuse the batch unless each file's records 1..rows_read have exactly one outcome (the SQL check)."""
    problems = con.execute("SELECT path, problem FROM record_accounting_problems(?) ORDER BY file_id, problem",
                           [[s.file_id for s in summaries]]).fetchall()
    if problems:
        channel = summaries[0].channel
        raise UnaccountedRecords(f"the {channel} reader did not account for every record ("
                                 + "; ".join(f"{path}: {problem}" for path, problem in problems[:5])
                                 + "): a bug in the preset, nothing of the file was kept; please report it")


def record_unreadable(con, path: Path, channel: str, reason: str, raw: bytes | None = None,
                      detail: str | None = None) -> FileSummary:
    """Quarantine a whole file (one record) and put it in the ledger as failed; a later retry is allowed.

    quarantine.raw keeps at most the first RAW_HEAD_BYTES of the file itself (none for a file not read,
    such as a link out of the landing folder); a traceback (`detail`) goes to the log, never to the table.
    """
    raw = path.read_bytes() if raw is None else raw
    summary = FileSummary(path=str(path), channel=channel, sha256=sha256_of(raw), status="failed",
                          rows_read=1, error=shown_name(f"{path}: {reason}"))
    if detail:
        # every line of the traceback indented and escaped: a name inside it cannot pass for a log line
        log.error("%s quarantined whole: %s\n%s", shown_name(path), shown_name(reason),
                  "\n".join(f"  | {shown_name(line)}" for line in detail.rstrip("\n").split("\n")))
    head = raw[:RAW_HEAD_BYTES].decode("utf-8", errors="replace") if raw else None
    quarantine = pl.DataFrame(
        {"file_index": [0], "record_no": [1], "source_file": [str(path)], "line_or_key": ["file"],
         "reason": [reason], "raw": [head], "channel": [channel]},
        schema=QUARANTINE_ROWS)
    con.execute("BEGIN TRANSACTION")
    _write_accounts(con, [(summary, len(raw))], accounting.whole_files([1], "quarantined"), quarantine)
    con.execute("COMMIT")
    return summary


def _write_copies(con, entries: list[tuple[FileSummary, int]]) -> None:
    """Ledger rows of files whose bytes were loaded before: every record of each is a duplicate."""
    con.execute("BEGIN TRANSACTION")
    _write_accounts(con, entries, accounting.whole_files([s.rows_read for s, _ in entries], "duplicate"))
    con.execute("COMMIT")


# quarantine rows as the loader writes them: file_index (in its batch) and the 1-based record_no in that file
QUARANTINE_ROWS = {"file_index": pl.Int64, "record_no": pl.Int64, "source_file": pl.String, "line_or_key": pl.String,
                   "reason": pl.String, "raw": pl.String, "channel": pl.String}


def _write_accounts(con, entries: list[tuple[FileSummary, int]], outcomes: pl.DataFrame,
                    quarantine: pl.DataFrame | None = None) -> None:
    """Ledger rows for many files in one insert, their counts counted from their outcome ranges, which are
    written beside them with the quarantine rows (`file_index` in both: the position in `entries`)."""
    counts = accounting.outcome_counts(outcomes, len(entries))
    first_id = fetch_one(con, "SELECT coalesce(max(file_id), 0) + 1 FROM ingested_files")[0]
    for index, ((summary, _), loaded, duplicate, quarantined) in enumerate(zip(
            entries, *(counts.get_column(c) for c in accounting.OUTCOMES))):
        summary.file_id = first_id + index
        summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined = loaded, duplicate, quarantined
    frame = pl.DataFrame(
        [(s.file_id, s.path, s.sha256, s.channel, s.rows_read, s.rows_ingested, s.rows_duplicate, s.rows_quarantined,
          size, s.status) for s, size in entries],
        schema={"file_id": pl.Int64, "path": pl.String, "sha256": pl.String, "channel": pl.String,
                "rows_read": pl.Int64, "rows_ingested": pl.Int64, "rows_duplicate": pl.Int64,
                "rows_quarantined": pl.Int64, "size_bytes": pl.Int64, "status": pl.String}, orient="row")
    con.register("batch_ledger", frame.to_arrow())
    con.execute("INSERT INTO ingested_files (file_id, path, sha256, channel, rows_read, rows_ingested, rows_duplicate,"
                " rows_quarantined, size_bytes, status) SELECT * FROM batch_ledger")
    con.unregister("batch_ledger")
    file_id = pl.col("file_index") + first_id
    con.register("batch_outcomes", outcomes.select(file_id.alias("file_id"), "first_record", "last_record",
                                                   "outcome").to_arrow())
    con.execute("INSERT INTO record_outcome_ranges SELECT * FROM batch_outcomes")
    con.unregister("batch_outcomes")
    if quarantine is not None and quarantine.height:
        con.register("batch_quarantine", quarantine.with_columns(file_id=file_id).to_arrow())
        con.execute("INSERT INTO quarantine (source_file, line_or_key, reason, raw, channel, file_id, record_no) "
                    "SELECT source_file, line_or_key, reason, raw, channel, file_id, record_no FROM batch_quarantine")
        con.unregister("batch_quarantine")


def _load_units(con, units: list[_Unit], settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Load the canonical frames of one or more parsed files of one channel; return the batch's outcome
    ranges and quarantine rows (file_index: the file's position in `units`)."""
    parts: dict[str, list[pl.DataFrame]] = {}
    quarantines = []
    base = 0
    rates = rates_to_base(settings.money.base_currency, settings.money.fx)
    for index, unit in enumerate(units):
        parsed, source = unit.parsed, str(unit.path)
        frames = {name: conform(frame, name) for name, frame in parsed.frames.items() if frame.height}
        frames, rejected = validate_frames(frames, settings)
        if "donations" in frames:
            frames["donations"] = with_fx_rate(frames["donations"], rates)
        quarantine = pl.concat([parsed.quarantine.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA),
                                rejected.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA)])
        quarantines.append(quarantine.select(
            file_index=pl.lit(index, pl.Int64), record_no=pl.col("record_no") + 1, source_file=pl.lit(source),
            line_or_key=pl.col("line_or_key").fill_null("unknown"),
            reason=pl.col("reason").fill_null("rejected by the preset without a reason (a bug: please report it)"),
            raw=pl.col("raw"), channel=pl.lit(parsed.channel)))
        unit.summary.rows_read = parsed.records_read
        unit.base = base
        for name, frame in frames.items():
            if len(units) > 1:  # one file: its name goes in as one parameter, not a column of copies
                frame = frame.with_columns(record_no=pl.col("record_no") + base, source_file=pl.lit(source))
            parts.setdefault(name, []).append(frame)
        base = unit.last + 1
    frames = {name: pl.concat(frames_of) for name, frames_of in parts.items()}
    label = str(units[0].path) + (f" (and {len(units) - 1} more files)" if len(units) > 1 else "")

    # --- who each row is about
    parties, slices = records.party_frame(frames)
    org = settings.organisation
    parties = identity.drop_own_identities(
        parties, settings.own_email_domains, set(org.phone_numbers), org.facebook_page)
    combos = identity.party_combos(parties)
    keys = identity.identity_keys(combos)
    con.register("batch_keys", keys.to_arrow())
    existing = query_frame(
        con, "SELECT i.identity_type, i.identity_value, i.contact_id FROM contact_identities i "
        "JOIN batch_keys k USING (identity_type, identity_value)")
    con.unregister("batch_keys")
    next_id = fetch_one(con, "SELECT coalesce(max(contact_id), 0) + 1 FROM contacts")[0]
    merged_max = fetch_one(con, "SELECT coalesce(max(merged_contact_id), 0) + 1 FROM contact_merges")[0]
    resolution = identity.resolve(parties, existing.cast({"contact_id": pl.Int64}), max(next_id, merged_max),
                                  combos)
    apply_merges(con, resolution.merges, label)
    apply_contacts(con, resolution, label, settings.organisation.language)
    # a batch's contacts are counted on its first file (the totals are what a run reports)
    units[0].summary.contacts_created = resolution.new_contacts.height
    units[0].summary.contacts_merged = resolution.merges.height

    # --- the rows, each inserted when its key is new
    frames = records.with_contact_ids(frames, slices, resolution.record_contacts)
    digits = minor_digits(settings.money.base_currency)
    new_records, seen_records = [], []
    for name, frame in frames.items():
        seen_records.append(frame.get_column("record_no"))
        if name == "contacts":
            apply_contact_tags(con, frame)
            frame = records.with_record_keys(frame, units[0].parsed.channel)
        new_records.append(_insert_new(con, name, frame, str(units[0].path), digits))
    if "refunds" in frames or "donations" in frames:
        _apply_refunds(con, frames, digits)
    if "partners" in frames:
        con.execute(
            "UPDATE contacts SET organisation_id = p.contact_id FROM partners p "
            "WHERE contacts.contact_id = p.liaison_contact_id AND p.partner_id IN (SELECT unnest(?)) "
            "AND contacts.organisation_id IS NULL", [frames["partners"].get_column("partner_id").to_list()])

    # --- what became of each record
    quarantine = pl.concat(quarantines)
    bases = [unit.base for unit in units]
    quarantined = quarantine.get_column("record_no") - 1 + pl.Series(bases).gather(quarantine.get_column("file_index"))
    empty = pl.Series("record_no", [], pl.Int64)
    outcomes = accounting.record_outcomes(quarantined, pl.concat(seen_records) if seen_records else empty,
                                          pl.concat(new_records) if new_records else empty, bases)
    return outcomes, quarantine


def _insert_new(con, name: str, frame: pl.DataFrame, source: str, digits: int) -> pl.Series:
    """Insert the rows whose key the warehouse has not seen; return their record numbers."""
    table = TARGET[name]
    frame, key_cols = records.with_keys(name, frame)
    if frame.select(pl.struct(key_cols).n_unique()).item() < frame.height:  # counting is cheaper than unique
        frame = frame.unique(key_cols, keep="first", maintain_order=True)
    table_columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    derived = {column: sql.replace("$digits", str(int(digits))) for column, sql in DERIVED.get(name, {}).items()}
    columns = [c for c in frame.columns
               if c not in ("record_no", *PARTY, *LIAISON, *derived) and c in table_columns]
    # the keys the warehouse has already (a semi-join on the keys alone), then only the new rows go in
    con.register("batch_keys", frame.select(key_cols).to_arrow())
    join = " AND ".join(f't."{c}" = b."{c}"' for c in key_cols)
    known = query_frame(con, f"SELECT * FROM batch_keys b WHERE EXISTS (SELECT 1 FROM {table} t WHERE {join})")
    con.unregister("batch_keys")
    new = frame.join(known, on=key_cols, how="anti", maintain_order="left") if known.height else frame
    con.register("batch_new", new.select(columns).to_arrow())
    targets = ", ".join([*(f'"{c}"' for c in columns), *(f'"{c}"' for c in derived)])
    values = ", ".join([*(f'"{c}"' for c in columns), *derived.values()])
    if "source_file" in table_columns and "source_file" not in frame.columns:
        con.execute(f"INSERT INTO {table} ({targets}, source_file) SELECT {values}, ? FROM batch_new", [source])
    else:
        con.execute(f"INSERT INTO {table} ({targets}) SELECT {values} FROM batch_new")
    con.unregister("batch_new")
    return new.get_column("record_no")


def _apply_refunds(con, frames: dict[str, pl.DataFrame], digits: int) -> None:
    """Fold every refund seen into its gift: Stripe's running totals by max, PayPal's rows by sum; the net in
    the base currency is converted again from the remaining amount, at the gift's own rate."""
    # the gifts refunds name, and the batch's gifts an earlier file refunded (a refund may come first)
    empty = pl.DataFrame(schema={"donation_id": pl.String})
    con.register("batch_refund_ids", (frames["refunds"].select("donation_id") if "refunds" in frames else empty)
                 .to_arrow())
    con.register("batch_donation_ids", (frames["donations"].select("donation_id") if "donations" in frames
                                        else empty).to_arrow())
    con.execute("""
        CREATE OR REPLACE TEMP TABLE batch_gift_ids AS
        SELECT donation_id FROM batch_refund_ids
        UNION
        SELECT r.donation_id FROM donation_refunds r SEMI JOIN batch_donation_ids d USING (donation_id)""")
    con.unregister("batch_refund_ids")
    con.unregister("batch_donation_ids")
    con.execute(f"""
        UPDATE donations SET
            amount_refunded = least(donations.amount, r.refunded),
            net_amount_base = to_base_currency(donations.amount - least(donations.amount, r.refunded),
                                               donations.fx_rate, {int(digits)})
        FROM (
            SELECT donation_id,
                   coalesce(max(amount) FILTER (WHERE cumulative), 0)
                   + coalesce(sum(amount) FILTER (WHERE NOT cumulative), 0) AS refunded
            FROM donation_refunds
            WHERE donation_id IN (SELECT donation_id FROM batch_gift_ids)
            GROUP BY donation_id
        ) r
        WHERE donations.donation_id = r.donation_id""")
    con.execute("DROP TABLE batch_gift_ids")

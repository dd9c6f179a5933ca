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
from legatura.flows.resolve import resolve_cut_rows
from legatura.transforms import identity
from legatura.transforms.canonical import KEYS, LIAISON, PARTY, conform
from legatura.transforms.channels import PRESETS, QUARANTINE_SCHEMA, ParseResult, UnknownChannel, preset_module
from legatura.transforms.text import row_hash, shown_name
from legatura.transforms.validate import validate_frames
from legatura.warehouse.db import Interrupted, fetch_one, is_interrupt, query_frame, rollback

# warehouse table and column for each canonical frame
TARGET = {
    "interactions": "interactions", "donations": "donations", "refunds": "donation_refunds",
    "shifts": "volunteer_shifts", "partners": "partners", "consents": "consent_events",
    "suppressions": "suppressions", "contacts": "contact_records", "ignored": "ignored_records",
}
# tables whose contact_id columns follow a merge
CONTACT_COLUMNS = [
    ("interactions", "contact_id"), ("donations", "contact_id"), ("volunteer_shifts", "contact_id"),
    ("partners", "contact_id"), ("partners", "liaison_contact_id"), ("messages", "contact_id"),
    ("segment_history", "contact_id"), ("contact_identities", "contact_id"), ("contacts", "organisation_id"),
    ("contact_records", "contact_id"),
]
log = logging.getLogger("legatura.ingest")
RAW_HEAD_BYTES = 2000   # of a file quarantined whole, quarantine.raw keeps this much of the file itself


@dataclass
class FileSummary:
    """What ingesting one file did; loaded + duplicate + quarantined = read."""

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
        _write_ledgers(con, already)
    for batch in units.values():
        for index, summary in _load_batch(con, batch, settings):
            summaries[index] = summary
    for index, original in copies:   # the same bytes twice in one batch: the second is a copy
        first = summaries[original]
        copy = FileSummary(path=str(files[index][0]), channel=files[index][1], sha256=first.sha256,
                           status="already_ingested", rows_read=first.rows_read, rows_duplicate=first.rows_read)
        if first.status == "failed":
            copy = record_unreadable(con, files[index][0], files[index][1], first.error or "failed", contents[index])
        else:
            _write_ledgers(con, [(copy, len(contents[index]))])
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
        _load_units(con, [unit for _, unit in batch], settings)
        _write_ledgers(con, [(unit.summary, len(unit.raw)) for _, unit in batch])
        resolve_cut_rows(con, [(str(unit.path), unit.summary.channel, unit.raw) for _, unit in batch])
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
        return [(index, record_unreadable(con, unit.path, unit.summary.channel,
                                          f"file could not be loaded: {type(exc).__name__}: {exc}", unit.raw,
                                          traceback.format_exc(limit=5)[-4000:]))]


def record_unreadable(con, path: Path, channel: str, reason: str, raw: bytes | None = None,
                      detail: str | None = None) -> FileSummary:
    """Quarantine a whole file (one record) and put it in the ledger as failed; a later retry is allowed.

    quarantine.raw keeps at most the first RAW_HEAD_BYTES of the file itself (none for a file not read,
    such as a link out of the landing folder); a traceback (`detail`) goes to the log, never to the table.
    """
    raw = path.read_bytes() if raw is None else raw
    summary = FileSummary(path=str(path), channel=channel, sha256=sha256_of(raw), status="failed",
                          rows_read=1, rows_quarantined=1, error=shown_name(f"{path}: {reason}"))
    if detail:
        # every line of the traceback indented and escaped: a name inside it cannot pass for a log line
        log.error("%s quarantined whole: %s\n%s", shown_name(path), shown_name(reason),
                  "\n".join(f"  | {shown_name(line)}" for line in detail.rstrip("\n").split("\n")))
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO quarantine (source_file, line_or_key, reason, raw, channel) VALUES (?,?,?,?,?)",
                [str(path), "file", reason, raw[:RAW_HEAD_BYTES].decode("utf-8", errors="replace") if raw else None,
                 channel])
    _write_ledgers(con, [(summary, len(raw))])
    con.execute("COMMIT")
    return summary


def _write_ledgers(con, entries: list[tuple[FileSummary, int]]) -> None:
    """Ledger rows for many files in one insert."""
    frame = pl.DataFrame(
        [(s.path, s.sha256, s.channel, s.rows_read, s.rows_ingested, s.rows_duplicate, s.rows_quarantined, size,
          s.status) for s, size in entries],
        schema={"path": pl.String, "sha256": pl.String, "channel": pl.String, "rows_read": pl.Int64,
                "rows_ingested": pl.Int64, "rows_duplicate": pl.Int64, "rows_quarantined": pl.Int64,
                "size_bytes": pl.Int64, "status": pl.String}, orient="row")
    con.register("batch_ledger", frame.to_arrow())
    con.execute("INSERT INTO ingested_files (path, sha256, channel, rows_read, rows_ingested, rows_duplicate,"
                " rows_quarantined, size_bytes, status) SELECT * FROM batch_ledger")
    con.unregister("batch_ledger")


def _party_frame(frame: pl.DataFrame, prefix: str, offset: int) -> pl.DataFrame:
    cols = {name: (f"{prefix}{name}" if prefix else name) for name in PARTY}
    exprs = [
        (pl.col(src) if src in frame.columns else pl.lit(None, dtype=PARTY[name])).alias(name)
        for name, src in cols.items()
    ]
    if prefix:
        exprs[-2] = pl.lit("person").alias("contact_kind")
    return frame.select(exprs).with_row_index("rec", offset=offset).with_columns(pl.col("rec").cast(pl.Int64))


def _load_units(con, units: list[_Unit], settings: Settings) -> None:
    """Load the canonical frames of one or more parsed files of one channel, accounting per file."""
    parts: dict[str, list[pl.DataFrame]] = {}
    quarantines = []
    base = 0
    for unit in units:
        parsed, source = unit.parsed, str(unit.path)
        frames = {name: conform(frame, name) for name, frame in parsed.frames.items() if frame.height}
        frames, rejected = validate_frames(frames, settings)
        quarantine = pl.concat([parsed.quarantine.select(list(QUARANTINE_SCHEMA)).cast(QUARANTINE_SCHEMA),
                                rejected.cast(QUARANTINE_SCHEMA)]).with_columns(
            line_or_key=pl.col("line_or_key").fill_null("unknown"),
            reason=pl.col("reason").fill_null("rejected by the preset without a reason (a bug: please report it)"),
            source_file=pl.lit(source), channel=pl.lit(parsed.channel))
        quarantines.append(quarantine)
        unit.summary.rows_read = parsed.records_read
        unit.summary.rows_quarantined = quarantine.height
        unit.base = base
        for name, frame in frames.items():
            if len(units) > 1:  # one file: its name goes in as one parameter, not a column of copies
                frame = frame.with_columns(record_no=pl.col("record_no") + base, source_file=pl.lit(source))
            parts.setdefault(name, []).append(frame)
        base = unit.last + 1
    frames = {name: pl.concat(frames_of) for name, frames_of in parts.items()}
    label = str(units[0].path) + (f" (and {len(units) - 1} more files)" if len(units) > 1 else "")

    # --- who each row is about
    party_parts, offset, slices = [], 0, {}
    for name, frame in frames.items():
        prefixes = [""] + (["liaison_"] if name == "partners" else [])
        for prefix in prefixes:
            if prefix == "" and name in ("refunds", "suppressions", "ignored"):
                continue
            part = _party_frame(frame, prefix, offset)
            slices[(name, prefix)] = (offset, frame.height)
            party_parts.append(part)
            offset += frame.height
    parties = pl.concat(party_parts) if party_parts else _party_frame(pl.DataFrame(), "", 0).clear()
    org = settings.organisation
    parties = identity.drop_own_identities(
        parties, settings.own_email_domains, set(org.phone_numbers), org.facebook_page)
    keys = identity.identity_edges(parties).select("identity_type", "identity_value").unique()
    con.register("batch_keys", keys.to_arrow())
    existing = query_frame(
        con, "SELECT i.identity_type, i.identity_value, i.contact_id FROM contact_identities i "
        "JOIN batch_keys k USING (identity_type, identity_value)")
    con.unregister("batch_keys")
    next_id = fetch_one(con, "SELECT coalesce(max(contact_id), 0) + 1 FROM contacts")[0]
    merged_max = fetch_one(con, "SELECT coalesce(max(merged_contact_id), 0) + 1 FROM contact_merges")[0]
    resolution = identity.resolve(parties, existing.cast({"contact_id": pl.Int64}), max(next_id, merged_max))
    _apply_merges(con, resolution.merges, label)
    _apply_contacts(con, resolution, label, settings.organisation.language)
    # a batch's contacts are counted on its first file (the totals are what a run reports)
    units[0].summary.contacts_created = resolution.new_contacts.height
    units[0].summary.contacts_merged = resolution.merges.height

    contact_of = resolution.record_contacts
    new_records: list[pl.Series] = []
    seen_records: list[pl.Series] = []
    for name, frame in frames.items():
        for prefix in ("", "liaison_"):
            if (name, prefix) in slices:
                start, height = slices[(name, prefix)]
                ids = contact_of.filter(pl.col("rec").is_between(start, start + height - 1)).sort("rec")
                frame = frame.with_columns(ids.get_column("contact_id").alias(f"{prefix}contact_id"))
        seen_records.append(frame.get_column("record_no"))
        if name == "contacts":
            _apply_contact_tags(con, frame)
            frame = _with_record_keys(frame, units[0].parsed.channel)
        new_records.append(_insert_new(con, name, frame, str(units[0].path)))
    if "refunds" in frames or "donations" in frames:
        _apply_refunds(con, frames)
    if "partners" in frames:
        con.execute(
            "UPDATE contacts SET organisation_id = p.contact_id FROM partners p "
            "WHERE contacts.contact_id = p.liaison_contact_id AND p.partner_id IN (SELECT unnest(?)) "
            "AND contacts.organisation_id IS NULL", [frames["partners"].get_column("partner_id").to_list()])

    all_seen = pl.concat(seen_records).unique() if seen_records else pl.Series("record_no", [], pl.Int64)
    fresh = pl.concat(new_records).unique() if new_records else pl.Series("record_no", [], pl.Int64)
    for unit in units:
        seen = all_seen.filter(all_seen.is_between(unit.base, unit.last)).len()
        new = fresh.filter(fresh.is_between(unit.base, unit.last)).len()
        unit.summary.rows_duplicate = seen - new
        unit.summary.rows_ingested = unit.summary.rows_read - unit.summary.rows_quarantined - unit.summary.rows_duplicate
    quarantine = pl.concat(quarantines)
    if quarantine.height:
        con.register("batch_quarantine", quarantine.to_arrow())
        con.execute("INSERT INTO quarantine (source_file, line_or_key, reason, raw, channel) "
                    "SELECT source_file, line_or_key, reason, raw, channel FROM batch_quarantine")
        con.unregister("batch_quarantine")


def _apply_merges(con, merges: pl.DataFrame, source: str) -> None:
    if merges.height == 0:
        return
    con.register("batch_merges", merges.to_arrow())
    # the kept contact takes what it lacks from the merged one
    _fill_contact_blanks(con, """
        SELECT b.kept_contact_id AS contact_id, first(c.full_name) AS full_name, first(c.email) AS email,
               first(c.phone) AS phone, first(c.language) AS language, NULL AS kind
        FROM batch_merges b JOIN contacts c ON c.contact_id = b.merged_contact_id
        GROUP BY b.kept_contact_id""")
    con.execute("""
        INSERT INTO contact_merges (kept_contact_id, merged_contact_id, shared_identity, source_file, merged_contact_name)
        SELECT b.kept_contact_id, b.merged_contact_id, b.shared_identity, ?, c.full_name
        FROM batch_merges b LEFT JOIN contacts c ON c.contact_id = b.merged_contact_id""", [source])
    con.execute("""
        DELETE FROM segment_membership s USING batch_merges b
        WHERE s.contact_id = b.merged_contact_id
          AND EXISTS (SELECT 1 FROM segment_membership k
                      WHERE k.contact_id = b.kept_contact_id AND k.segment = s.segment)""")
    con.execute("""
        UPDATE segment_membership SET contact_id = b.kept_contact_id FROM batch_merges b
        WHERE segment_membership.contact_id = b.merged_contact_id""")
    for table, column in CONTACT_COLUMNS:
        con.execute(f"""
            UPDATE {table} SET {column} = b.kept_contact_id FROM batch_merges b
            WHERE {table}.{column} = b.merged_contact_id""")
    con.execute("DELETE FROM contacts WHERE contact_id IN (SELECT merged_contact_id FROM batch_merges)")
    con.unregister("batch_merges")


def _apply_contacts(con, resolution: identity.Resolution, source: str, default_language: str) -> None:
    if resolution.new_contacts.height:
        con.register("batch_contacts", resolution.new_contacts.to_arrow())
        # a contact's language is the organisation's until a source says otherwise
        con.execute("""
            INSERT INTO contacts (contact_id, full_name, email, phone, language, kind, first_source)
            SELECT contact_id, full_name, email, phone, coalesce(language, ?), kind, ?
            FROM batch_contacts""", [default_language, source])
        con.unregister("batch_contacts")
    if resolution.contact_updates.height:
        con.register("batch_updates", resolution.contact_updates.to_arrow())
        _fill_contact_blanks(con, "SELECT contact_id, full_name, email, phone, language, kind FROM batch_updates")
        con.unregister("batch_updates")
    if resolution.new_identities.height:
        con.register("batch_identities", resolution.new_identities.to_arrow())
        con.execute("""
            INSERT INTO contact_identities (identity_type, identity_value, contact_id, source_file)
            SELECT identity_type, identity_value, contact_id, ? FROM batch_identities""", [source])
        con.unregister("batch_identities")


def _fill_contact_blanks(con, source_sql: str) -> None:
    """Give contacts what they lack (name, email, phone, language) from `source_sql`'s rows of the same
    contact_id; a contact seen as an organisation becomes one. What a contact has is never overwritten."""
    con.execute(f"""
        UPDATE contacts SET
            full_name = coalesce(contacts.full_name, u.full_name),
            email = coalesce(contacts.email, u.email),
            phone = coalesce(contacts.phone, u.phone),
            language = coalesce(contacts.language, u.language),
            kind = CASE WHEN u.kind = 'organisation' THEN 'organisation' ELSE contacts.kind END,
            updated_at = now()
        FROM ({source_sql}) u
        WHERE contacts.contact_id = u.contact_id
          AND (contacts.full_name IS NULL AND u.full_name IS NOT NULL
               OR contacts.email IS NULL AND u.email IS NOT NULL
               OR contacts.phone IS NULL AND u.phone IS NOT NULL
               OR contacts.language IS NULL AND u.language IS NOT NULL
               OR u.kind = 'organisation' AND contacts.kind <> 'organisation')""")


def _with_record_keys(frame: pl.DataFrame, channel: str) -> pl.DataFrame:
    """Contacts-only records without a source id are keyed by a hash of what they say."""
    if frame.get_column("record_key").null_count() == 0:
        return frame
    hashed = row_hash(frame.with_columns(tags=pl.col("tags").list.sort().list.join(",")),
                      ["email", "phone", "facebook_ref", "full_name", "contact_kind", "language", "tags"],
                      f"{channel}:contact:")
    return frame.with_columns(record_key=pl.coalesce(pl.col("record_key"), hashed))


def _apply_contact_tags(con, frame: pl.DataFrame) -> None:
    tagged = (frame.filter(pl.col("tags").list.len() > 0).drop_nulls("contact_id")
              .group_by("contact_id").agg(pl.col("tags").explode().drop_nulls().unique().sort()))
    if tagged.height == 0:
        return
    con.register("batch_tags", tagged.to_arrow())
    con.execute("""
        UPDATE contacts SET tags = list_sort(list_distinct(list_concat(coalesce(contacts.tags, []), t.tags)))
        FROM batch_tags t WHERE contacts.contact_id = t.contact_id""")
    con.unregister("batch_tags")


def _with_keys(name: str, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """The frame and its key columns in the warehouse table."""
    if name == "consents":
        frame = frame.with_columns(event_id=pl.concat_str(
            [pl.col("channel"), pl.col("address"), pl.col("status"),
             pl.col("recorded_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.f"), pl.col("source")], separator="|"))
        return frame, ["event_id"]
    if name == "suppressions":
        return frame, ["channel", "address"]
    return frame, [KEYS[name]]


def _insert_new(con, name: str, frame: pl.DataFrame, source: str) -> pl.Series:
    """Insert the rows whose key the warehouse has not seen; return their record numbers."""
    table = TARGET[name]
    frame, key_cols = _with_keys(name, frame)
    frame = frame.unique(key_cols, keep="first", maintain_order=True)
    table_columns = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
    columns = [c for c in frame.columns if c not in ("record_no", *PARTY, *LIAISON) and c in table_columns]
    con.register("batch_rows", frame.to_arrow())
    join = " AND ".join(f't."{c}" = b."{c}"' for c in key_cols)
    con.execute(f"CREATE OR REPLACE TEMP TABLE batch_new AS SELECT b.* FROM batch_rows b "
                f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {join})")
    con.unregister("batch_rows")
    quoted = ", ".join(f'"{c}"' for c in columns)
    if "source_file" in table_columns and "source_file" not in frame.columns:
        con.execute(f"INSERT INTO {table} ({quoted}, source_file) SELECT {quoted}, ? FROM batch_new", [source])
    else:
        con.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM batch_new")
    new_records = query_frame(con, "SELECT DISTINCT record_no FROM batch_new").get_column("record_no")
    con.execute("DROP TABLE batch_new")
    return new_records


def _apply_refunds(con, frames: dict[str, pl.DataFrame]) -> None:
    """Fold every refund seen into its gift: Stripe's running totals by max, PayPal's rows by sum."""
    ids = pl.concat([frames[n].select("donation_id") for n in ("donations", "refunds") if n in frames]).unique()
    con.register("batch_gift_ids", ids.to_arrow())
    con.execute("""
        UPDATE donations SET
            amount_refunded = least(donations.amount, r.refunded),
            net_amount_base = round((donations.amount - least(donations.amount, r.refunded))
                                    * donations.amount_base / donations.amount, 2)
        FROM (
            SELECT donation_id,
                   coalesce(max(amount) FILTER (WHERE cumulative), 0)
                   + coalesce(sum(amount) FILTER (WHERE NOT cumulative), 0) AS refunded
            FROM donation_refunds
            WHERE donation_id IN (SELECT donation_id FROM batch_gift_ids)
            GROUP BY donation_id
        ) r
        WHERE donations.donation_id = r.donation_id""")
    con.unregister("batch_gift_ids")

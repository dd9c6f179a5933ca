"""`legatura ingest`: files and folders -> channel presets -> warehouse, with the nothing-lost ledger."""
from __future__ import annotations

import fnmatch
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
from legatura.flows.config import Settings
from legatura.flows.load import FileSummary, ingest_file, ingest_files, record_unreadable
from legatura.transforms.channels import PRESETS, UnknownChannel, preset_module
from legatura.warehouse.db import open_for_write
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

SKIPPED_NAMES = ("*.part", "*.tmp", "*.crdownload", "~$*", ".*")
# inside a folder these are documents, pictures and settings, never exports: listed as skipped, not read
NOT_EXPORTS = (".md", ".toml", ".ini", ".cfg", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".heic",
               ".mp4", ".mov", ".mp3", ".ogg", ".doc", ".docx", ".odt", ".xls", ".xlsx", ".ods")


@dataclass
class SourceFile:
    path: Path
    channel: str | None
    problem: str | None = None   # why the channel could not be told (the file is then quarantined whole)
    skipped: bool = False        # a document or picture inside a folder: not an export, not read
    raw: bytes | None = None     # the bytes of a member of a .zip (its path is then "<zip>/<member>")


def _landing_channel(path: Path, settings: Settings) -> str | None:
    try:
        relative = path.resolve().relative_to(settings.landing.path.resolve())
    except ValueError:
        return None
    return relative.parts[0] if len(relative.parts) > 1 else None


def detect_channel(path: Path, settings: Settings, head: bytes | None = None) -> str:
    """landing/<channel>/ names it; else a mapping whose `match` glob fits; else the first preset that knows it."""
    landing = _landing_channel(path, settings)
    if landing:
        if landing not in PRESETS and landing not in settings.mappings:
            raise UnknownChannel(
                f"{path}: landing/{landing}/ names no channel; use a preset folder ({', '.join(PRESETS)}) "
                f"or add a [mappings.{landing}] section to legatura.toml")
        return landing
    for name, mapping in settings.mappings.items():
        pattern = mapping.get("match")
        if pattern and fnmatch.fnmatch(path.name, pattern):
            return name
    if head is None:
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # presets look for their headers in UTF-8
        head = head[: len(head) // 2 * 2].decode("utf-16", errors="ignore").encode("utf-8")
    for name in PRESETS:
        try:
            module = preset_module(name)
        except (ModuleNotFoundError, UnknownChannel):
            continue
        if getattr(module, "detect", None) and module.detect(path.name, head):
            return name
    raise UnknownChannel(
        f"{path}: cannot tell which channel this file is; pass --channel "
        f"({', '.join(PRESETS)} or a [mappings.<name>] section), or drop it into landing/<channel>/")


def _is_skipped(path: Path) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in SKIPPED_NAMES)


def discover(paths: Iterable[Path], settings: Settings, channel: str | None = None) -> list[SourceFile]:
    """Every file under the given paths with its channel; Maildir tmp/ and partial downloads are skipped."""
    found: list[SourceFile] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file():
            files = [path]
        else:
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and not _is_skipped(p) and "tmp" not in p.relative_to(path).parts[:-1]
            )
        for file in files:
            if file.suffix.lower() == ".zip":
                found.extend(_zip_members(file, settings, channel))
                continue
            if file is not path and file.suffix.lower() in NOT_EXPORTS:
                found.append(SourceFile(file, None, f"not an export ({file.suffix.lower()} file)", skipped=True))
                continue
            if channel:
                found.append(SourceFile(file, channel))
                continue
            try:
                found.append(SourceFile(file, detect_channel(file, settings)))
            except UnknownChannel as exc:
                # one unknown file (a photo in a Facebook export, a stray note) must not stop the rest
                found.append(SourceFile(file, None, str(exc)))
    return found


def _zip_members(archive: Path, settings: Settings, channel: str | None) -> list[SourceFile]:
    """A .zip (Mailchimp's audience export, Facebook's download, Takeout) is read as the files inside it."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist()
                       if not m.is_dir() and not any(part.startswith((".", "__MACOSX")) for part in
                                                     Path(m.filename).parts)]
            contents = [(m.filename, zipped.read(m)) for m in members]
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        return [SourceFile(archive, None, f"{archive}: not a readable zip archive ({exc})")]
    found = []
    landing = _landing_channel(archive, settings)
    for name, raw in sorted(contents):
        member = archive / name
        if member.suffix.lower() in NOT_EXPORTS:
            found.append(SourceFile(member, None, f"not an export ({member.suffix.lower()} file)", skipped=True))
            continue
        try:
            member_channel = channel or landing or detect_channel(member, settings, head=raw[:64 * 1024])
            found.append(SourceFile(member, member_channel, raw=raw))
        except UnknownChannel as exc:
            found.append(SourceFile(member, None, str(exc), raw=raw))
    return found


def ingest_source(con: duckdb.DuckDBPyConnection, source: SourceFile, settings: Settings) -> FileSummary:
    """Ingest one discovered file; a file of unknown channel is quarantined whole and recorded as failed."""
    if source.skipped:
        return FileSummary(path=str(source.path), channel="-", status="skipped", error=source.problem)
    if source.channel is None:
        return record_unreadable(con, source.path, "unknown", source.problem or "unknown channel", source.raw)
    return ingest_file(con, source.path, source.channel, settings)


def ingest_paths(con: duckdb.DuckDBPyConnection, paths: list[Path], settings: Settings,
                 channel: str | None = None,
                 progress: Callable[[FileSummary], None] | None = None) -> list[FileSummary]:
    """Ingest every file under `paths` without Prefect (one transaction per file); one summary per file."""
    return ingest_batch(con, discover(paths, settings, channel), settings, progress)


@dataclass
class IngestResult:
    """Per-file summaries of one ingest run, with totals for the CLI."""

    files: list[FileSummary]
    tracking: object | None = None   # the response-time headline when ingest also ran tracking

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.status == "failed"]

    def totals(self) -> dict[str, int]:
        keys = ("rows_read", "rows_ingested", "rows_duplicate", "rows_quarantined", "contacts_created",
                "contacts_merged")
        return {"files": len(self.files), **{k: sum(getattr(f, k) for f in self.files) for k in keys}}


# a task per batch of files: a Maildir of 20,000 messages must not cost 20,000 task runs
BATCH_FILES = 200
BATCH_BYTES = 64 * 1024 * 1024


def batches(sources: list[SourceFile]) -> list[list[SourceFile]]:
    """Consecutive files grouped up to BATCH_FILES files or BATCH_BYTES bytes (a big file is a batch alone)."""
    groups: list[list[SourceFile]] = []
    size = 0
    for source in sources:
        bytes_ = len(source.raw) if source.raw is not None else (
            source.path.stat().st_size if source.path.exists() else 0)
        if not groups or len(groups[-1]) >= BATCH_FILES or size + bytes_ > BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(source)
        size += bytes_
    return groups


def ingest_batch(con: duckdb.DuckDBPyConnection, sources: list[SourceFile], settings: Settings,
                 progress: Callable[[FileSummary], None] | None = None) -> list[FileSummary]:
    """Ingest a batch of files: each one parsed and accounted on its own, loaded together per channel."""
    summaries: list[FileSummary | None] = [None] * len(sources)
    readable = []
    for index, source in enumerate(sources):
        if source.skipped or source.channel is None:
            summaries[index] = ingest_source(con, source, settings)
        else:
            readable.append(index)
    loaded = ingest_files(con, [(sources[i].path, sources[i].channel, sources[i].raw) for i in readable], settings)
    for index, summary in zip(readable, loaded):
        summaries[index] = summary
    if progress:
        for summary in summaries:
            progress(summary)
    return summaries


ingest_batch_task = task(ingest_batch, name="ingest-files", cache_policy=NO_CACHE)


@flow(name="ingest", validate_parameters=False)
def ingest_flow(paths: list[Path], settings: Settings, channel: str | None = None,
                progress: Callable[[FileSummary], None] | None = None,
                notify: Callable[[str], None] | None = None, track: bool = True) -> IngestResult:
    """Take the write lock, ingest every file (a task per batch of files), update response times when
    anything new arrived, publish the analysts' snapshot."""
    sources = discover(paths, settings, channel)
    summaries: list[FileSummary] = []
    with open_for_write(settings.warehouse.path, "legatura ingest", settings.warehouse.lock_timeout_seconds,
                        notify, snapshot_path=settings.warehouse.snapshot) as con:
        for batch in batches(sources):
            summaries.extend(ingest_batch_task(con, batch, settings, progress))
        result = IngestResult(summaries)
        if track and result.totals()["rows_ingested"]:
            # new interactions can answer requests or respond to our messages: keep the views current
            from legatura.flows.track import compute_response_times_task

            result.tracking = compute_response_times_task(con, settings)
    return result

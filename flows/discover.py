"""Finding what to ingest: files and folders (and .zip archives) with the channel that reads each."""
from __future__ import annotations

import fnmatch
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import PRESETS, UnknownChannel, is_channel, preset_module

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


def landing_channel(path: Path, settings: Settings) -> str | None:
    """The <channel> of a file under landing/<channel>/, or None."""
    try:
        relative = path.resolve().relative_to(settings.landing.path.resolve())
    except ValueError:
        return None
    return relative.parts[0] if len(relative.parts) > 1 else None


def detect_channel(path: Path, settings: Settings, head: bytes | None = None) -> str:
    """landing/<channel>/ names it; else a mapping whose `match` glob fits; else the first preset that knows it."""
    landing = landing_channel(path, settings)
    if landing:
        if not is_channel(landing, settings.mappings):
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
        if preset_module(name).detect(path.name, head):
            return name
    raise UnknownChannel(
        f"{path}: cannot tell which channel this file is; pass --channel "
        f"({', '.join(PRESETS)} or a [mappings.<name>] section), or drop it into landing/<channel>/")


def is_skipped(path: Path) -> bool:
    """A partial download, a lock file or a dot-file: never an export."""
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
                if p.is_file() and not is_skipped(p) and "tmp" not in p.relative_to(path).parts[:-1]
            )
        for file in files:
            if file.suffix.lower() == ".zip":
                found.extend(_zip_members(file, settings, channel))
            else:
                found.append(_source(file, settings, channel, in_folder=file is not path))
    return found


def _source(path: Path, settings: Settings, channel: str | None, in_folder: bool = True,
            raw: bytes | None = None) -> SourceFile:
    """One file (or zip member) with its channel; a document is skipped, an unknown layout kept for quarantine."""
    if in_folder and path.suffix.lower() in NOT_EXPORTS:
        return SourceFile(path, None, f"not an export ({path.suffix.lower()} file)", skipped=True)
    try:
        head = raw[:64 * 1024] if raw is not None else None
        return SourceFile(path, channel or detect_channel(path, settings, head), raw=raw)
    except UnknownChannel as exc:
        # one unknown file (a photo in a Facebook export, a stray note) must not stop the rest
        return SourceFile(path, None, str(exc), raw=raw)


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
    # a member's channel: --channel, else the zip's landing folder, else its own layout
    channel = channel or landing_channel(archive, settings)
    return [_source(archive / name, settings, channel, raw=raw) for name, raw in sorted(contents)]


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

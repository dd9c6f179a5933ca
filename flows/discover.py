"""Finding what to ingest: files and folders (and .zip archives) with the channel that reads each.

Nothing is followed out of the folder being ingested: a symbolic link (to a file or a folder) whose real
path is outside it is listed with a problem and quarantined whole without reading a byte of its target; a
link that stays inside is followed once (a folder reached twice, or a loop, is read once). The folder is
the landing folder for anything under it, else the folder named on the command line (a file named alone:
the folder holding it). Files are read through `read_source`, which checks again, on the open file, that
it is the regular file inside the folder that was listed.
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from legatura.flows import archive
from legatura.flows.config import Settings
from legatura.transforms.channels import PRESETS, UnknownChannel, is_channel, preset_module

SKIPPED_NAMES = ("*.part", "*.tmp", "*.crdownload", "~$*", ".*")
# inside a folder these are documents, pictures and settings, never exports: listed as skipped, not read
NOT_EXPORTS = (".md", ".toml", ".ini", ".cfg", ".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".heic",
               ".mp4", ".mov", ".mp3", ".ogg", ".doc", ".docx", ".odt", ".xls", ".xlsx", ".ods")
OUTSIDE = "symbolic link to outside the landing folder"
BROKEN_LINK = "symbolic link that leads nowhere (its target is missing, or the links loop)"
NOT_REGULAR = "not a regular file (a FIFO, socket or device): not read"
HEAD_BYTES = 64 * 1024


class UnreadableSource(Exception):
    """A listed file that cannot be read safely: gone, replaced by a link, not a regular file, refused."""


@dataclass
class SourceFile:
    path: Path
    channel: str | None
    problem: str | None = None   # why it cannot be ingested (the file is then quarantined whole)
    skipped: bool = False        # a document or picture inside a folder: not an export, not read
    raw: bytes | None = None     # its bytes, when the caller already has them
    root: Path | None = None     # the real folder it must stay inside when read
    member: archive.Member | None = None   # an archive member, read from its archive with its batch
    unread: bool = False         # quarantined without reading a byte (a link outside, a zip bomb, a FIFO)
    size: int = 0                # bytes on disk (a member: declared uncompressed size)


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
            head = handle.read(HEAD_BYTES)
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


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Is `path` (a real path) `root` or under it?"""
    try:
        Path(path).relative_to(root)
    except ValueError:
        return False
    return True


def boundary(path: Path, settings: Settings) -> Path:
    """The real folder nothing read for `path` may leave: the landing folder for anything under it, else the
    folder named (its own link followed: the user named it), else the folder holding the file named."""
    landing = Path(os.path.realpath(settings.landing.path))
    lexical = Path(os.path.abspath(path))
    if is_inside(lexical, Path(os.path.abspath(settings.landing.path))) or is_inside(
            os.path.realpath(lexical.parent), landing):
        return landing
    return Path(os.path.realpath(lexical if lexical.is_dir() else lexical.parent))


def entry_problem(path: Path, root: Path) -> str | None:
    """Why a file (or a link) must not be read: it leads outside `root`, nowhere, or to no regular file."""
    real = os.path.realpath(path)
    if not is_inside(real, root):
        return OUTSIDE
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return BROKEN_LINK
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else NOT_REGULAR


def walk(folder: Path, root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file under `folder` (lexical paths, sorted) with its problem; links inside followed once."""
    found: list[tuple[Path, str | None]] = []
    seen: set[str] = set()

    def visit(directory: Path) -> None:
        seen.add(os.path.realpath(directory))
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            found.append((directory, f"folder cannot be listed ({exc.strerror or exc})"))
            return
        for entry in entries:
            path = directory / entry.name
            if is_skipped(path) or ("tmp" in path.relative_to(folder).parts[:-1]):
                continue
            if entry.is_symlink():
                problem = entry_problem(path, root)
                if problem is None and os.path.isdir(path):
                    if os.path.realpath(path) not in seen:  # a folder already read (or a loop) is not read again
                        visit(path)
                    continue
                found.append((path, problem))
            elif entry.is_dir(follow_symlinks=False):
                if os.path.realpath(path) not in seen:
                    visit(path)
            elif entry.is_file(follow_symlinks=False):
                found.append((path, None))
            else:
                found.append((path, NOT_REGULAR))

    visit(folder)
    return iter(sorted(found, key=lambda item: item[0]))


def discover(paths: Iterable[Path], settings: Settings, channel: str | None = None) -> list[SourceFile]:
    """Every file under the given paths with its channel; Maildir tmp/ and partial downloads are skipped."""
    found: list[SourceFile] = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise FileNotFoundError(f"{path}: no such file or folder")
        root = boundary(path, settings)
        problem = entry_problem(path, root)
        if problem is None and path.is_dir():
            files = list(walk(path, root))
        else:
            files = [(path, problem)]
        for file, problem in files:
            named = file is path
            if problem:
                found.append(SourceFile(file, None if problem != OUTSIDE else channel or _landed(file, settings),
                                        problem, root=root, unread=True))
            elif archive.is_archive(file):
                found.extend(_archive_members(file, root, settings, channel))
            else:
                found.append(_source(file, settings, channel, root, in_folder=not named))
    return found


def _landed(path: Path, settings: Settings) -> str | None:
    """The landing/<channel>/ a path names lexically (without following it), if any."""
    try:
        parts = Path(os.path.abspath(path)).relative_to(os.path.abspath(settings.landing.path)).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and is_channel(parts[0], settings.mappings) else None


def open_inside(path: Path, root: Path | None) -> BinaryIO:
    """Open a listed file for reading, refusing, on the open file itself, anything but a regular file inside
    `root` (a link or folder swapped in since it was listed is caught here)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise UnreadableSource(f"cannot be opened ({exc.strerror or exc})") from None
    handle = os.fdopen(fd, "rb")
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise UnreadableSource(NOT_REGULAR)
        if root is not None:
            real = os.path.realpath(path)
            if not is_inside(real, root):
                raise UnreadableSource(OUTSIDE)
            now = os.stat(real)
            if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
                raise UnreadableSource("the file was replaced while being opened: not read")
    except BaseException:
        handle.close()
        raise
    return handle


def read_inside(path: Path, root: Path | None, limit: int | None = None) -> bytes:
    with open_inside(path, root) as handle:
        return handle.read() if limit is None else handle.read(limit)


def read_sources(sources: list[SourceFile], settings: Settings) -> list[bytes | UnreadableSource]:
    """The bytes of each source (or why it cannot be read); an archive is opened once for its members."""
    limit = int(settings.landing.max_member_mb * archive.MB)
    with contextlib.ExitStack() as stack:
        opened: dict[Path, zipfile.ZipFile | UnreadableSource] = {}
        out: list[bytes | UnreadableSource] = []
        for source in sources:
            try:
                if source.unread:
                    out.append(b"")
                elif source.raw is not None:
                    out.append(source.raw)
                elif source.member is not None:
                    where = source.member.archive
                    if where not in opened:
                        try:
                            handle = stack.enter_context(open_inside(where, source.root))
                            opened[where] = stack.enter_context(zipfile.ZipFile(handle))
                        except UnreadableSource as exc:
                            opened[where] = exc
                        except (zipfile.BadZipFile, OSError, EOFError) as exc:
                            opened[where] = UnreadableSource(f"archive cannot be read ({exc})")
                    zipped = opened[where]
                    if isinstance(zipped, UnreadableSource):
                        raise zipped
                    out.append(archive.read_member(zipped, source.member, limit))
                else:
                    out.append(read_inside(source.path, source.root))
            except (UnreadableSource, archive.MemberRefused) as exc:
                out.append(UnreadableSource(str(exc)))
        return out


def _source(path: Path, settings: Settings, channel: str | None, root: Path | None, in_folder: bool = True,
            head: bytes | None = None, member: archive.Member | None = None) -> SourceFile:
    """One file (or archive member) with its channel; a document is skipped, an unknown layout kept for quarantine."""
    size = member.size if member else _size(path)
    if in_folder and path.suffix.lower() in NOT_EXPORTS:
        return SourceFile(path, None, f"not an export ({path.suffix.lower()} file)", skipped=True, root=root,
                          member=member, size=size)
    try:
        if head is None and member is None and not channel and landing_channel(path, settings) is None:
            head = read_inside(path, root, HEAD_BYTES)   # checked like any read: never through a link out
        return SourceFile(path, channel or detect_channel(path, settings, head), root=root, member=member, size=size)
    except UnreadableSource as exc:
        return SourceFile(path, None, str(exc), root=root, unread=True, size=size)
    except UnknownChannel as exc:
        # one unknown file (a photo in a Facebook export, a stray note) must not stop the rest
        return SourceFile(path, None, str(exc), root=root, member=member, size=size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _archive_members(path: Path, root: Path, settings: Settings, channel: str | None) -> list[SourceFile]:
    """A .zip (Mailchimp's audience export, Facebook's download, Takeout) is read as the files inside it.

    Names and limits are checked from the archive's directory; only the head of an acceptable member is
    inflated here (to tell its channel); its bytes are read with its batch.
    """
    landing = settings.landing
    try:
        with open_inside(path, root) as handle, zipfile.ZipFile(handle) as zipped:
            listed = archive.members(zipped, path)
            infos = zipped.infolist()
            heads = {}
            for member in listed:
                info = infos[member.index]
                if (archive.name_problem(member.name) or archive.limit_problem(
                        info, landing.max_member_mb, landing.max_compression_ratio) or archive.is_metadata(member.name)):
                    continue
                try:
                    with zipped.open(info) as stream:
                        heads[member.index] = stream.read(HEAD_BYTES)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
                    heads[member.index] = archive.MemberRefused(f"archive member cannot be read ({exc})")
    except UnreadableSource as exc:
        return [SourceFile(path, None, str(exc), root=root, unread=True)]
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        return [SourceFile(path, None, f"not a readable zip archive ({exc})", root=root, size=_size(path))]
    # a member's channel: --channel, else the zip's landing folder, else its own layout
    channel = channel or landing_channel(path, settings)
    found = []
    for member in sorted(listed, key=lambda m: (m.name, m.index)):
        info = infos[member.index]
        refused = archive.name_problem(member.name) or archive.limit_problem(
            info, landing.max_member_mb, landing.max_compression_ratio)
        head = heads.get(member.index)
        if isinstance(head, archive.MemberRefused):
            refused = str(head)
        if refused:
            found.append(SourceFile(member.path, channel, refused, root=root, member=member, unread=True,
                                    size=member.size))
        elif archive.is_metadata(member.name):
            found.append(SourceFile(member.path, None, "macOS metadata or a hidden file in the archive, not an export",
                                    skipped=True, root=root, member=member))
        else:
            found.append(_source(member.path, settings, channel, root, head=head, member=member))
    return found


# a task per batch of files: a Maildir of 20,000 messages must not cost 20,000 task runs
BATCH_FILES = 200
BATCH_BYTES = 64 * 1024 * 1024


def batches(sources: list[SourceFile]) -> list[list[SourceFile]]:
    """Consecutive files grouped up to BATCH_FILES files or BATCH_BYTES bytes (a big file is a batch alone)."""
    groups: list[list[SourceFile]] = []
    size = 0
    for source in sources:
        bytes_ = len(source.raw) if source.raw is not None else source.size
        if not groups or len(groups[-1]) >= BATCH_FILES or size + bytes_ > BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(source)
        size += bytes_
    return groups

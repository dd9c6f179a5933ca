"""Archives in the landing folder (.zip): each member is a file of its own, checked before it is inflated.

A member is never extracted to disk and never read whole beyond `landing.max_member_mb`: it is streamed in
chunks. Before a byte is inflated, its declared size and compression ratio are checked against
`landing.max_member_mb` and `landing.max_compression_ratio` (a zip bomb inflates 1,000:1), and its name:
an absolute name or one with `..` is quarantined (an extractor would write it outside the archive's
folder), never dropped. Every member's path keeps its archive: `export.zip!folder/member.csv`.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

CHUNK_BYTES = 1 << 20
MB = 1024 * 1024
# macOS adds resource forks (__MACOSX/, ._name) and Finder files (.DS_Store) when it zips a folder
_METADATA = ("__MACOSX", ".")


class MemberRefused(Exception):
    """An archive member that is not inflated: too large, inflating too much, or unreadable."""


@dataclass(frozen=True)
class Member:
    """One file inside an archive, as its central directory describes it."""

    archive: Path
    index: int          # its place in the archive's directory (two members may share a name)
    name: str
    size: int           # uncompressed bytes, as declared
    compressed: int

    @property
    def path(self) -> Path:
        return member_path(self.archive, self.name)


def member_path(archive: Path, name: str) -> Path:
    """The ledger path of a member: the archive, `!`, the member's own name (absolute names included)."""
    return Path(f"{archive}!{name}")


def is_archive(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def name_problem(name: str) -> str | None:
    """Why a member's name is refused: absolute, or climbing out of the archive with `..`."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "archive member with an absolute path: not read (an extractor would write it outside its folder)"
    if ".." in re.split(r"[\\/]", name):
        return "archive member whose path climbs out of the archive (..): not read"
    return None


def limit_problem(info: zipfile.ZipInfo, max_member_mb: float, max_ratio: float) -> str | None:
    """Why a member is not inflated: declared too large, compressed too well, or encrypted."""
    if info.flag_bits & 0x1:
        return "encrypted archive member: cannot be read"
    if info.file_size > max_member_mb * MB:
        return (f"archive member of {info.file_size / MB:,.0f} MB is over landing.max_member_mb "
                f"({max_member_mb:g} MB): not inflated")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MB and ratio > max_ratio:
        return (f"archive member inflates {ratio:,.0f}:1 ({info.compress_size:,} bytes to {info.file_size:,}), over "
                f"landing.max_compression_ratio ({max_ratio:g}): not inflated (a zip bomb?)")
    return None


def is_metadata(name: str) -> bool:
    """A macOS resource fork or hidden file added by the zipping tool, not an export."""
    return any(part.startswith(_METADATA) for part in PurePath(name.replace("\\", "/")).parts)


def members(zipped: zipfile.ZipFile, archive: Path) -> list[Member]:
    """The files of an archive (folders left out), from its central directory only: nothing is inflated."""
    return [Member(archive, index, info.filename, info.file_size, info.compress_size)
            for index, info in enumerate(zipped.infolist()) if not info.is_dir()]


def read_member(zipped: zipfile.ZipFile, member: Member, max_bytes: int) -> bytes:
    """A member's bytes, streamed in chunks; refused as soon as it passes `max_bytes` (whatever it declared)."""
    info = zipped.infolist()[member.index]
    if info.filename != member.name:
        raise MemberRefused("the archive changed since it was listed")
    chunks, total = [], 0
    try:
        with zipped.open(info) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                total += len(chunk)
                if total > max_bytes:
                    raise MemberRefused(f"archive member inflates past {max_bytes / MB:,.0f} MB "
                                        "(landing.max_member_mb): not read further")
                chunks.append(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise MemberRefused(f"archive member cannot be read ({type(exc).__name__}: {exc})") from None
    return b"".join(chunks)

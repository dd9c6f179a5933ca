"""Letters: one printable HTML file per batch, one A4 page per contact, written from the outbox rows."""
from __future__ import annotations

from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from legatura.flows.config import Settings
from markupsafe import Markup

BATCH_LAYOUT = "_layouts/letters.html.j2"


def letters_folder(settings: Settings) -> Path:
    """Where printable letters go: `[letters] path` (compose's preview of a batch, send's delivered batches)."""
    return settings.letters.path


def write_letter_batch(con: duckdb.DuckDBPyConnection, batch: str, folder: Path, templates: Path,
                       language: str) -> Path:
    """Write every queued letter of `batch` into `<folder>/<batch>.html` (replaced atomically)."""
    rows = con.execute("SELECT body_html FROM messages WHERE batch = ? AND channel = 'letter' "
                       "ORDER BY contact_id, trigger_ref", [batch]).fetchall()
    return write_letters(folder / f"{safe_name(batch)}.html", [r[0] for r in rows], templates, language, batch)


def letters_html(pages: list[str], templates: Path, language: str, title: str) -> str:
    """The printable document: the batch layout's print CSS around each letter's page."""
    env = Environment(loader=FileSystemLoader(str(templates)), undefined=StrictUndefined, autoescape=True)
    return env.get_template(BATCH_LAYOUT).render(letters=[Markup(p) for p in pages], title=title,
                                                 language=language)


def write_letters(path: Path, pages: list[str], templates: Path, language: str, title: str) -> Path:
    html = letters_html(pages, templates, language, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


def safe_name(batch: str) -> str:
    """A batch name as a file name: campaign names are [a-z0-9_-]; '@', ':' and the rest become '_'."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in batch)

"""Letters: each batch of due `letter` messages becomes one printable HTML file in outbox/letters/ (one
letter per page) with its recipients list beside it (CSV), written atomically, then marked sent.

Same journal as email and SMS: `handed` is journaled before the file is written, so a crash between the
file and the warehouse write leaves the letters `unknown` (check the folder) rather than printed twice.
"""
from __future__ import annotations

import csv
import html
import io
import os
from datetime import datetime, timezone
from pathlib import Path

from legatura.flows import outbox
from legatura.flows.config import Settings
from legatura.flows.journal import SendJournal
from legatura.flows.letter_pages import BATCH_LAYOUT, letters_html
from legatura.transforms.delivery import outcome

PAGE = """<!doctype html>
<html lang="{language}"><head><meta charset="utf-8"><title>{title}</title>
<style>
  @page {{ size: A4; margin: 25mm 20mm; }}
  body {{ font-family: Georgia, serif; font-size: 11pt; line-height: 1.45; }}
  .letter {{ page-break-after: always; break-after: page; }}
  .letter:last-child {{ page-break-after: auto; break-after: auto; }}
  .from {{ text-align: right; margin-bottom: 14mm; }}
  .to {{ margin-bottom: 12mm; white-space: pre-line; }}
  .text {{ white-space: pre-line; }}
</style></head><body>
{letters}
</body></html>
"""


def _letter(row: dict, settings: Settings) -> str:
    org = settings.organisation
    body = row["body_html"] or f'<div class="text">{html.escape(row["body_text"] or "")}</div>'
    to = "\n".join(p for p in (row.get("full_name"), row["address"]) if p)
    title = f"<h2>{html.escape(row['subject'])}</h2>" if row["subject"] else ""
    return (f'<section class="letter" id="{html.escape(row["message_id"])}">'
            f'<div class="from">{html.escape(org.name)}</div>'
            f'<div class="to">{html.escape(to)}</div>{title}{body}</section>')


def _document(letters: list[dict], settings: Settings, language: str, title: str) -> str:
    """The batch file. Compose renders each letter as a whole A4 page, its address window included: those
    print in the campaigns' own letter layout (its print CSS), never inside a second address block."""
    if any(r["body_html"] for r in letters) and (settings.templates.path / BATCH_LAYOUT).exists():
        pages = [f'<section class="letter" id="{html.escape(r["message_id"])}">{r["body_html"]}</section>'
                 if r["body_html"] else _letter(r, settings) for r in letters]
        return letters_html(pages, settings.templates.path, language, title)
    return PAGE.format(language=html.escape(language), title=html.escape(title),
                       letters="\n".join(_letter(r, settings) for r in letters))


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_letters(con, settings: Settings, options, summary, progress, journal: SendJournal | None = None) -> None:
    """Every due letter, one batch file per campaign per claim (see the module docstring)."""
    folder = settings.letters.path
    folder.mkdir(parents=True, exist_ok=True)
    rows = outbox.claim(con, "letter", options.limit or 100000, options.campaign, "")
    by_campaign: dict[str, list[dict]] = {}
    for row in rows:
        by_campaign.setdefault(row["campaign"] or "letters", []).append(row)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = []
    for campaign, letters in sorted(by_campaign.items()):
        name = f"{_safe(campaign)}-{stamp}"
        now = datetime.now(timezone.utc)
        ready = [r for r in letters if r["address"] and r["address"].strip()]
        results += [outcome(r["message_id"], r["attempts"], "letter", r["address"], "failed", now,
                            error="refused before sending: no postal address") for r in letters if r not in ready]
        if not ready:
            continue
        if journal is not None:
            journal.write_now(*({"m": r["message_id"], "a": r["attempts"], "e": "handed"} for r in ready))
        language = ready[0]["language"] or settings.organisation.language
        page = _document(ready, settings, language, f"{campaign} {stamp}")
        recipients = io.StringIO()
        writer = csv.writer(recipients, lineterminator="\n")
        writer.writerow(["message_id", "contact_id", "full_name", "address"])
        writer.writerows([r["message_id"], r["contact_id"], r.get("full_name") or "", r["address"]] for r in ready)
        _write_atomically(folder / f"{name}-recipients.csv", recipients.getvalue().encode("utf-8"))
        _write_atomically(folder / f"{name}.html", page.encode("utf-8"))
        results += [outcome(r["message_id"], r["attempts"], "letter", r["address"], "sent", now, batch=f"{name}.html")
                    for r in ready]
        summary.letter_batches.append(f"{folder / name}.html ({len(ready)} letter(s))")
    if journal is not None and results:
        journal.write_now(*(outbox.journal_line(r) for r in results))
    outbox.apply_outcomes(con, results)
    for row in results:
        summary.tally("letter", row["outcome"])
        if progress:
            progress(row["outcome"], 1)


def _safe(name: str) -> str:
    """A campaign name as a file name: letters, digits, - and _ only (never a path outside the folder)."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return cleaned[:80] or "letters"

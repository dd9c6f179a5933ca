"""`legatura why` and `legatura preview`: read-only looks at one person's messages and one rendered message."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl
from legatura.flows.check import organisation_of
from legatura.flows.compose_outbox import COMPOSE_SQL, context_rows, put_params, run_sql_file
from legatura.flows.config import Settings
from legatura.flows.letter_pages import letters_html
from legatura.transforms.campaigns import load_campaign
from legatura.transforms.errors import LegaturaError
from legatura.transforms.render import Renderer
from legatura.transforms.text import normalise_email, normalise_phones
from legatura.transforms.why import explain_rows
from legatura.warehouse.db import WarehouseError, connect, query_frame


class UnknownContact(LegaturaError):
    """No contact has that id, email or phone."""


@contextlib.contextmanager
def read_only(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The analysts' snapshot if there is one (never blocks a writer), else the live file read-only."""
    path = settings.warehouse.snapshot if settings.warehouse.snapshot.exists() else settings.warehouse.path
    if not path.exists():
        raise WarehouseError(f"{path}: no warehouse here yet; run `legatura init` first")
    con = connect(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def find_contact(con: duckdb.DuckDBPyConnection, who: str) -> dict:
    """The contact named by a contact_id, an email or a phone number (normalised like ingest does)."""
    who = who.strip()
    contact_id = None
    if who.isdigit() and len(who) < 12:
        contact_id = int(who)
    else:
        email = pl.select(normalise_email(pl.lit(who))).item()
        phone = normalise_phones(pl.Series([who])).item()
        found = con.execute("SELECT contact_id FROM contact_identities WHERE identity_value IN (?, ?) LIMIT 1",
                            [email or "", phone or ""]).fetchall()
        contact_id = found[0][0] if found else None
    rows = query_frame(con, """
        SELECT c.contact_id, c.full_name, c.language, c.kind,
               (SELECT list(segment ORDER BY segment) FROM segment_membership m WHERE m.contact_id = c.contact_id)
                   AS segments
        FROM contacts c WHERE c.contact_id = ?""", [contact_id]).to_dicts() if contact_id is not None else []
    if not rows:
        raise UnknownContact(f"no contact with id, email or phone {who!r}")
    return rows[0]


def explain(con: duckdb.DuckDBPyConnection, who: str, campaign: str | None, timezone: str) -> list[str]:
    contact = find_contact(con, who)
    rows = query_frame(con, (COMPOSE_SQL / "why.sql").read_text(encoding="utf-8"),
                       [contact["contact_id"], campaign]).to_dicts()
    return explain_rows(contact, rows, timezone)


@dataclass
class Preview:
    contact_id: int
    header: str
    text: str | None
    html: str | None


def preview_message(con: duckdb.DuckDBPyConnection, settings: Settings, name: str, who: str, as_of: date,
                    channel: str | None = None, language: str | None = None) -> Preview:
    """Render one contact's message as compose would (or on the channel / in the language asked)."""
    templates = settings.templates.path
    campaign = load_campaign(templates, name)
    if channel is not None and channel not in campaign.channels:
        raise LegaturaError(f"campaign {name} offers {', '.join(campaign.channels)}, not {channel}")
    if language is not None and language not in campaign.languages:
        raise LegaturaError(f"campaign {name} is written in {', '.join(campaign.languages)}, not {language}")
    contact = find_contact(con, who)
    put_params(con, settings, campaign, as_of)
    trigger_ref = _latest_trigger(con, campaign.trigger, contact["contact_id"])
    con.execute("""CREATE OR REPLACE TEMP TABLE compose_audience AS
                   SELECT ?::BIGINT AS contact_id, ?::VARCHAR AS audience_segment, ?::VARCHAR AS trigger_ref,
                          NULL::TIMESTAMPTZ AS trigger_at, 'preview'::VARCHAR AS campaign_run""",
                [contact["contact_id"], campaign.trigger or "preview", trigger_ref])
    run_sql_file(con, COMPOSE_SQL / "decide.sql")
    decided = con.execute("SELECT status, suppression_reason, channel, language, address, channel_reason "
                          "FROM compose_decisions").fetchall()[0]
    status, reason, chosen, lang, address, channel_reason = decided
    note = f"compose would queue it on {chosen} ({channel_reason})" if status == "queued" else \
        f"compose would suppress it: {reason} ({channel_reason})"
    use_channel, use_language = channel or chosen, language or lang
    if use_channel == "letter" and not address:
        address = "(no postal address)"
    con.execute("UPDATE compose_decisions SET status = 'queued', channel = ?, language = ?, address = ?",
                [use_channel, use_language, address if use_channel == chosen else None])
    row = context_rows(con).to_dicts()[0]
    rendered = Renderer(templates, campaign, organisation_of(settings), as_of).render(row)
    if rendered.reason:
        raise LegaturaError(f"{rendered.reason}: {rendered.error}")
    html = rendered.body_html
    if use_channel == "letter":
        html = letters_html([html], templates, use_language, name)
    header = (f"{name} for contact {contact['contact_id']} ({contact.get('full_name') or 'no name'}) on "
              f"{use_channel} in {use_language}; {note}")
    if rendered.subject:
        header += f"\nSubject: {rendered.subject}"
    if rendered.sms_segments:
        header += f"\nSMS: {rendered.sms_segments} segment(s)"
    return Preview(contact["contact_id"], header, rendered.body_text, html)


def _latest_trigger(con, trigger: str | None, contact_id: int) -> str | None:
    """For a triggered campaign, the person's latest triggering record (their last gift, first shift)."""
    sql = {"donation.received": "SELECT donation_id FROM donations WHERE contact_id = ? ORDER BY donated_at DESC",
           "volunteer.first_shift": "SELECT shift_id FROM volunteer_shifts WHERE contact_id = ? ORDER BY started_at"}
    if trigger not in sql:
        return None
    found = con.execute(sql[trigger] + " LIMIT 1", [contact_id]).fetchall()
    return found[0][0] if found else None

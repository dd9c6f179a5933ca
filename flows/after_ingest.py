"""What delivery learns from ingest: bounce reports that came back, unsubscribe clicks waiting in the link
file, and double opt-ins that need their confirmation email. Set-based SQL (warehouse/delivery/), cheap
when nothing new arrived; called by ingest after each batch of files and by `legatura send`."""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
from legatura.flows import links_store
from legatura.flows.config import Settings
from legatura.flows.outbox import delivery_sql
from legatura.transforms.tokens import CONFIRM_MARKER
from legatura.warehouse.db import put_settings

CONFIRMATION_TEXTS = {
    "ro": ("Confirmați abonarea la veștile {org}",
           "Bună ziua,\n\nați cerut să primiți veștile {org} la această adresă. Confirmați cu un clic:\n\n"
           "{link}\n\nDacă nu ați cerut asta, ignorați mesajul: nu veți primi nimic de la noi.\n\n{org}\n"),
    "en": ("Please confirm your subscription to {org}",
           "Hello,\n\nyou asked to hear from {org} at this address. Confirm with one click:\n\n{link}\n\n"
           "If you did not ask for this, ignore this message: you will get nothing from us.\n\n{org}\n"),
}


@dataclass
class AfterIngest:
    bounces: int = 0
    links: int = 0
    confirmations_queued: int = 0


def apply_bounces(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Bounce reports not seen before -> bounce_events, bounced messages, suppressions; returns how many."""
    before = con.execute("SELECT count(*) FROM bounce_events").fetchall()[0][0]
    put_settings(con, {"soft_bounce_limit": str(settings.smtp.soft_bounce_limit)})
    con.execute(delivery_sql("apply_bounces"))
    con.execute("DROP TABLE IF EXISTS new_bounces")
    return con.execute("SELECT count(*) FROM bounce_events").fetchall()[0][0] - before


def queue_confirmations(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """One transactional confirmation email per address whose email consent is pending (double opt-in)."""
    import html

    org = settings.organisation.name
    texts = [{"language": language, "subject": subject.format(org=org),
              "body_text": body.format(org=org, link=CONFIRM_MARKER),
              "body_html": "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in
                                   body.format(org=org, link="\0").split("\n\n")).replace(
                  "\0", f'<a href="{CONFIRM_MARKER}">{CONFIRM_MARKER}</a>')}
             for language, (subject, body) in CONFIRMATION_TEXTS.items()]
    before = con.execute("SELECT count(*) FROM messages WHERE campaign = 'confirm_subscription'").fetchall()[0][0]
    con.register("confirmation_texts", pa.Table.from_pylist(texts))
    try:
        con.execute(delivery_sql("queue_confirmations"), {"default_language": settings.organisation.language})
    finally:
        con.unregister("confirmation_texts")
    return con.execute("SELECT count(*) FROM messages WHERE campaign = 'confirm_subscription'").fetchall()[0][0] - before


def after_ingest(con: duckdb.DuckDBPyConnection, settings: Settings) -> AfterIngest:
    """Everything delivery must learn from newly ingested records (idempotent)."""
    return AfterIngest(bounces=apply_bounces(con, settings), links=links_store.apply_pending(con, settings),
                       confirmations_queued=queue_confirmations(con, settings))

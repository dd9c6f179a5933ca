"""A warehouse built by ingesting the compose fixtures (tests/data/compose) and the shared samples, for compose tests."""
from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from pathlib import Path

from legatura.flows.config import Settings
from legatura.flows.ingest import ingest_paths
from legatura.flows.segment import compute_segments
from legatura.warehouse import db

DATA = Path(__file__).parent / "data"
COMPOSE_DATA = DATA / "compose"
SHIPPED = Path(__file__).parent.parent / "templates"
AS_OF = date(2026, 11, 30)
# Monday 30 November 2026, 22:00 in Bucharest: after the send window, after 21:00
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=timezone.utc)


def compose_settings(folder: Path) -> Settings:
    """Demo defaults with the warehouse, letters and a templates folder (shipped + test campaigns) in `folder`."""
    templates = folder / "templates"
    if not templates.exists():
        shutil.copytree(SHIPPED, templates)
        for campaign in (COMPOSE_DATA / "templates").iterdir():
            shutil.copytree(campaign, templates / campaign.name)
    return Settings(
        warehouse={"path": folder / "warehouse" / "legatura.duckdb",
                   "snapshot": folder / "warehouse" / "analytics.duckdb"},
        templates={"path": templates},
        prefect={"state_dir": folder / ".legatura"},
    )


def build_warehouse(folder: Path) -> Settings:
    """Ingest the fixtures into a fresh warehouse file, compute segments as of AS_OF, return its settings."""
    settings = compose_settings(folder)
    con = db.connect(settings.warehouse.path)
    db.migrate(con)
    formats = DATA / "formats"
    ingest_paths(con, [COMPOSE_DATA / "mailchimp", COMPOSE_DATA / "twilio_2026-11.jsonl",
                       COMPOSE_DATA / "unified_payments_2026-11-30.csv", COMPOSE_DATA / "Download_scrisori.CSV",
                       formats / "facebook", formats / "partners", formats / "volunteers"], settings)
    compute_segments(con, settings, AS_OF)
    con.execute("CHECKPOINT")
    con.close()
    return settings


def contact_of(con, address: str) -> int:
    return con.execute("SELECT contact_id FROM contact_identities WHERE identity_value = ?", [address]).fetchall()[0][0]

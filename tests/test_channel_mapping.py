"""[mappings.<name>] sections: the user's own CSV layouts for donations, contacts and form requests."""
from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from legatura.flows.config import Settings
from legatura.transforms.channels import mapping

from tests.conftest import assert_accounted

DATA = Path(__file__).parent / "data" / "mapping"
FORM_SAMPLE = "Formular contact (Răspunsuri) - Răspunsuri formular 1.csv"

BANK = {
    "target": "donations",
    "match": "donatii_banca_*.csv",
    "key": "Nr. document",
    "timestamp_format": "%d.%m.%Y",
    "currency": "RON",
    "method": "bank_transfer",
    "columns": {"Data": "donated_at", "Donator": "full_name", "E-mail": "email", "Telefon": "phone",
                "Suma": "amount", "Moneda": "currency", "Campanie": "campaign", "Lunar": "recurring"},
}
GALA = {
    "target": "contacts",
    "columns": {"Prenume": "first_name", "Nume": "last_name", "Email": "email", "Mobil": "phone",
                "Etichete": "tags", "Newsletter": "consent_email", "Inscris la": "recorded_at"},
    "consent_email": {"true_values": ["Da"], "false_values": ["Nu"]},
}


def _example_forms_mapping(formats: Path) -> dict:
    """The shared forms example, its [channels.forms] section read as a [mappings.<name>] section."""
    return tomllib.loads((formats / "forms" / "legatura.forms-mapping.example.toml").read_text())["channels"]["forms"]


@pytest.fixture
def settings(tmp_path: Path, formats: Path) -> Settings:
    return Settings(
        warehouse={"path": tmp_path / "warehouse" / "legatura.duckdb",
                   "snapshot": tmp_path / "warehouse" / "analytics.duckdb"},
        landing={"path": tmp_path / "landing"},
        prefect={"state_dir": tmp_path / ".legatura"},
        mappings={"banca": BANK, "gala": GALA, "formular": _example_forms_mapping(formats)},
    )


def test_mapping_donations_from_a_cp1250_bank_export(ingest, warehouse):
    summaries = ingest(DATA / "donatii_banca_2026-10.csv", channel="banca")
    assert_accounted(summaries)
    [summary] = summaries
    # 8 rows: 4 gifts, the repeated OP-0001 is a duplicate, 3 broken
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (8, 4, 1, 3)
    rows = warehouse.execute(
        "SELECT d.donation_id, d.amount, d.currency, d.donated_at, d.method, d.recurring, d.campaign, d.source,"
        " c.full_name, c.phone FROM donations d LEFT JOIN contacts c USING (contact_id) ORDER BY 1").fetchall()
    assert [(r[0], float(r[1]), r[2], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows] == [
        ("banca:OP-0001", 1250.0, "RON", "bank_transfer", False, "Crosul Solidarității", "banca",
         "Ștefan Rădulescu", "+40745987654"),
        ("banca:OP-0002", 10000.0, "RON", "bank_transfer", False, "Școala de vară", "banca", "Fundația Alfa", None),
        ("banca:OP-0003", 150.5, "EUR", "bank_transfer", True, None, "banca", "Hans Müller", None),
        ("banca:OP-0007", 35.0, "RON", "bank_transfer", False, None, "banca", None, None),   # anonymous gift
    ]
    # a date alone is local midnight
    assert rows[0][3] == datetime(2026, 10, 2, 21, 0, tzinfo=timezone.utc)
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons == {"5": "empty Nr. document: the gift has no id",
                       "6": "Data '31.09.2026' is not a date (expected DD.MM.YYYY)",
                       "7": "Suma 'douăzeci' is not a number"}
    # the same export again adds nothing
    [again] = ingest(DATA / "donatii_banca_2026-10.csv", channel="banca")
    assert again.status == "unchanged"


def test_mapping_match_glob_picks_the_mapping(ingest, warehouse):
    [summary] = ingest(DATA / "donatii_banca_2026-10.csv")
    assert summary.channel == "banca"


def test_mapping_contacts_with_tags_and_consent_answers(ingest, warehouse):
    summaries = ingest(DATA / "contacte_gala.csv", channel="gala")
    assert_accounted(summaries)
    [summary] = summaries
    # Irina's row twice: the loader counts a contact seen for the first time as new in every record of
    # the batch that names it, so the repeat may count as loaded rather than duplicate
    assert (summary.rows_read, summary.rows_ingested + summary.rows_duplicate, summary.rows_quarantined) == (6, 4, 2)
    contacts = {r[0] or r[1]: r[2:] for r in warehouse.execute(
        "SELECT email, phone, full_name, tags FROM contacts").fetchall()}
    assert contacts == {"ana.marginean@gmail.com": ("Ana Mărginean", ["Donator", "Gala 2026"]),
                        "+40733999000": ("Ioan Vlad", ["Voluntar"]),
                        "irina.pop@yahoo.com": ("Irina Pop", None)}
    # "Da" opts the email in at the sign-up time (local), "Nu" is configured as an explicit opt-out;
    # Ioan gave no email, so his "Da" for the newsletter covers nothing
    assert set(warehouse.execute("SELECT channel, address, status, recorded_at, source FROM consents").fetchall()) == {
        ("email", "ana.marginean@gmail.com", "opted_in", datetime(2026, 9, 1, 7, 0, tzinfo=timezone.utc), "gala"),
        ("email", "irina.pop@yahoo.com", "opted_out", datetime(2026, 9, 3, 9, 0, tzinfo=timezone.utc), "gala")}
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons == {"5": "no email or phone for the contact",
                       "6": "email 'dan@greșit' is not a valid address and there is no phone"}


def test_mapping_forms_example_reads_the_sample_like_the_preset(ingest, warehouse, formats):
    [summary] = ingest(formats / "forms" / FORM_SAMPLE, channel="formular")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (8, 6, 2)
    kinds = warehouse.execute("SELECT DISTINCT channel, direction, kind, awaits_answer FROM interactions").fetchall()
    assert kinds == [("form", "inbound", "form_request", True)]
    assert warehouse.execute("SELECT count(*) FROM interactions WHERE interaction_id LIKE 'formular:%'"
                             ).fetchone()[0] == 6
    assert warehouse.execute("SELECT count(*), min(source) FROM consents WHERE status = 'opted_in'"
                             ).fetchone() == (4, "formular")


def test_mapping_missing_header_names_section_header_and_remedy():
    settings = Settings(mappings={"banca": {**BANK, "columns": {**BANK["columns"], "Suma totală": "amount"}}})
    with pytest.raises(mapping.MappingHeaderMissing) as error:
        mapping.parse((DATA / "donatii_banca_2026-10.csv").read_bytes(), "donatii.csv", settings, "banca")
    message = str(error.value)
    assert message.startswith("[mappings.banca.columns] maps header 'Suma totală' but donatii.csv has no such column")
    assert "correct the header text in legatura.toml" in message and "Nr. document" in message


def test_mapping_missing_header_is_reported_by_ingest(ingest, warehouse, settings):
    settings.mappings["banca"] = {**BANK, "key": "Numar"}
    [summary] = ingest(DATA / "donatii_banca_2026-10.csv", channel="banca")
    assert summary.status == "failed"
    assert "[mappings.banca] key names header 'Numar' but" in summary.error


@pytest.mark.parametrize("section, message", [
    ({"columns": {"A": "amount", "B": "donated_at"}, "colums": {}},
     "[mappings.x] has unknown keys ['colums']"),
    ({"target": "gifts", "columns": {"A": "amount"}}, "[mappings.x] target = 'gifts': use one of"),
    ({"target": "contacts", "columns": {"A": "email", "B": "amount"}},
     "[mappings.x.columns] fields ['amount'] mean nothing for target contacts"),
    ({"target": "donations", "columns": {"A": "amount"}},
     "[mappings.x] target donations needs a time column (donated_at, occurred_at or recorded_at)"),
    ({"target": "contacts", "columns": {"A": "full_name"}}, "[mappings.x] target contacts needs email or phone"),
    ({"target": "contacts", "columns": {"A": "email", "B": "consent_email"}},
     "[mappings.x] target contacts needs a time column"),
    ({"columns": {"A": "email", "T": "occurred_at", "B": "body"}, "consent_email": {"empty_means": "opted_out"}},
     "[mappings.x.consent_email] empty_means = 'opted_out'"),
    ({}, "[mappings.x] maps no columns"),
])
def test_mapping_section_errors_say_what_to_fix(section, message):
    with pytest.raises(mapping.MappingError) as error:
        mapping.check_mapping("x", section)
    assert str(error.value).startswith(message)


def test_mapping_target_guessed_from_columns():
    assert mapping.check_mapping("x", {"columns": {"A": "amount", "B": "donated_at"}})[0] == "donations"
    assert mapping.check_mapping("x", {"columns": {"A": "email", "B": "body", "T": "occurred_at"}})[0] == "interactions"
    assert mapping.check_mapping("x", {"columns": {"A": "email"}})[0] == "contacts"


def test_mapping_docs_example_reads_the_test_files():
    docs = (Path(__file__).parents[1] / "docs" / "mappings.md").read_text()
    example = tomllib.loads(docs.split("```toml\n", 1)[1].split("```", 1)[0])["mappings"]
    settings = Settings(mappings=example)
    targets = {name: mapping.check_mapping(name, section)[0] for name, section in example.items()}
    assert targets == {"banca": "donations", "gala": "contacts", "formular_voluntari": "interactions"}
    bank = mapping.parse((DATA / "donatii_banca_2026-10.csv").read_bytes(), "b.csv", settings, "banca")
    assert (bank.frames["donations"].height, bank.quarantine.height) == (5, 3)
    gala = mapping.parse((DATA / "contacte_gala.csv").read_bytes(), "g.csv", settings, "gala")
    assert (gala.frames["contacts"].height, gala.frames["consents"].height) == (4, 3)


def test_mapping_row_with_extra_fields_is_quarantined(ingest, warehouse, tmp_path):
    export = tmp_path / "donatii_banca_extra.csv"
    export.write_bytes("Nr. document;Data;Donator;E-mail;Telefon;Suma;Moneda;Campanie;Lunar\r\n"
                       "OP-9;03.10.2026;Ion;ion@x.ro;;1.000;RON;;nu;în plus\r\n"
                       "OP-10;03.10.2026;Ana;ana@x.ro;;5,5;RON;;;\r\n".encode("cp1250"))
    [summary] = ingest(export, channel="banca")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (2, 1, 1)
    assert warehouse.execute("SELECT reason, raw FROM quarantine").fetchone() == (
        "the row has 10 fields where the header has 9", "OP-9;03.10.2026;Ion;ion@x.ro;;1.000;RON;;nu;în plus")
    assert float(warehouse.execute("SELECT amount FROM donations").fetchone()[0]) == 5.5


def test_mapping_flat_section_maps_headers_without_a_columns_table(tmp_path):
    """DESIGN's short form: `"Suma" = "amount"` lines straight in [mappings.<name>]."""
    flat = {"target": "donations", "timestamp_format": "%d.%m.%Y", "currency": "RON",
            "Data": "donated_at", "Suma": "amount", "E-mail": "email", "Donator": "full_name"}
    settings = Settings(mappings={"simplu": flat})
    raw = "Data;Donator;E-mail;Suma\n01.02.2026;Ana Pop;ana@x.ro;1.234,50\n".encode()
    result = mapping.parse(raw, "simplu.csv", settings, "simplu")
    [gift] = result.frames["donations"].select("amount", "currency", "email", "full_name").rows()
    assert gift == (1234.5, "RON", "ana@x.ro", "Ana Pop")
    with pytest.raises(mapping.MappingError, match="unknown keys"):
        mapping.parse(raw, "simplu.csv", Settings(mappings={"x": {**flat, "Suma": "amountt"}}), "x")

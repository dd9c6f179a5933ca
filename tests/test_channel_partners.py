"""The partners preset: agreements from YAML or CSV, the organisation and its liaison as contacts."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from legatura.flows.config import Settings
from legatura.transforms.channels import partners

from tests.conftest import assert_accounted

DATA = Path(__file__).parent / "data" / "partners"
SAMPLE = "partners/acorduri_parteneriat.yaml"


def test_partners_detect_yaml_and_csv(formats):
    assert partners.detect("acorduri_parteneriat.yaml", (formats / SAMPLE).read_bytes()[:4096])
    assert partners.detect("acorduri.csv", (DATA / "acorduri.csv").read_bytes()[:4096])
    assert not partners.detect("x.csv", b"date,email,phone,name,hours,activity\n")


def test_partners_parse_sample_every_field(formats):
    result = partners.parse((formats / SAMPLE).read_bytes(), SAMPLE, Settings())
    rows = result.frames["partners"]
    assert (result.records_read, rows.height, result.rows_quarantined) == (5, 5, 0)
    renewed = rows.row(1, named=True)
    assert renewed["partner_id"] == "ACP-2026-007"
    assert (renewed["partner_type"], renewed["stage"]) == ("sponsor", "active")
    assert (renewed["starts_on"], renewed["ends_on"]) == (date(2026, 3, 1), date(2027, 2, 28))
    assert renewed["objectives"] == ("Pâine zilnică pentru cantina socială\n"
                                     "Indicatori: număr de mese servite, apariții media.")
    assert json.loads(renewed["responsibilities"]) == {
        "ngo": "promovează partenerul pe site, în newsletter și la gală; raportează semestrial",
        "partner": "livrează 250 de pâini pe săptămână"}
    assert json.loads(renewed["contributions"])["partner"] == "produse în valoare de aprox. 10.000 RON / an"
    assert renewed["cooperation_mechanism"] == "întâlnire trimestrială; persoană de legătură dedicată"
    assert (renewed["email"], renewed["full_name"], renewed["contact_kind"]) == (
        "sponsorizari@brutaria-sfantul-ilie.ro", "Brutăria Sfântul Ilie SRL", "organisation")
    assert (renewed["liaison"], renewed["liaison_full_name"], renewed["liaison_email"], renewed["liaison_phone"]) == (
        "Ioana Crăciun", "Ioana Crăciun", "ioana.craciun@brutaria-sfantul-ilie.ro", "+40744512300")
    media, prospect = rows.row(2, named=True), rows.row(4, named=True)
    assert (media["starts_on"], media["ends_on"]) == (date(2024, 9, 1), None)
    assert (prospect["starts_on"], prospect["ends_on"], prospect["notes"]) == (
        None, None, "primul contact prin formularul de pe site (10/2026)")


def test_partners_sample_loads_organisations_and_linked_liaisons(ingest, warehouse, formats):
    [summary] = ingest(formats / SAMPLE)
    assert summary.channel == "partners"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_duplicate, summary.rows_quarantined) == (
        5, 5, 0, 0)
    kinds = dict(warehouse.execute("SELECT kind, count(*) FROM contacts GROUP BY kind").fetchall())
    assert kinds == {"organisation": 4, "person": 4}
    links = warehouse.execute("""
        SELECT p.full_name, o.full_name FROM contacts p JOIN contacts o ON o.contact_id = p.organisation_id
        ORDER BY 1""").fetchall()
    assert links == [("Andreea Voicu", "Coaliția pentru Educație Incluzivă"),
                     ("Corina Stan", "TechNova Solutions SRL"),
                     ("Ioana Crăciun", "Brutăria Sfântul Ilie SRL"),
                     ("Tudor Ardeleanu", "Radio Cluj Comunitar")]
    same_org = warehouse.execute(
        "SELECT count(DISTINCT contact_id), count(DISTINCT liaison_contact_id) FROM partners "
        "WHERE partner_name LIKE 'Brut%'").fetchone()
    assert same_org == (1, 1)
    [again] = ingest(formats / SAMPLE)
    assert again.status == "unchanged"


def test_partners_yaml_with_missing_dates_and_broken_agreements(ingest, warehouse):
    [summary] = ingest(DATA / "acorduri_de_verificat.yaml")
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (6, 1, 5)
    reasons = dict(warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall())
    assert reasons == {
        "12": "agreement ACP-2027-002 ends (2027-01-31) before it starts (2027-06-01)",
        "21": "agreement without agreement_id",
        "26": "agreement ACP-2027-004: type 'donor' is not one of sponsor, media, endorser, coalition, licensee, ngo",
        "31": "agreement ACP-2027-005: starts_on '2027-13-01' is not a date (YYYY-MM-DD)",
        "40": "the item is not a mapping of agreement fields",
    }
    raw = warehouse.execute("SELECT raw FROM quarantine WHERE line_or_key = '21'").fetchone()[0]
    assert raw.startswith('partner: "Fără Id SRL"')
    # the prospect without dates loads; quarantined agreements make no contact
    prospect = warehouse.execute(
        "SELECT p.starts_on, p.ends_on, c.email, c.kind FROM partners p JOIN contacts c USING (contact_id)").fetchone()
    assert prospect == (None, None, "office@fundatiaviitor.ro", "organisation")
    assert warehouse.execute("SELECT count(*) FROM contacts").fetchone()[0] == 2


def test_partners_csv_with_two_sided_columns(ingest, warehouse):
    [summary] = ingest(DATA / "acorduri.csv")
    assert summary.channel == "partners"
    assert (summary.rows_read, summary.rows_ingested, summary.rows_quarantined) == (3, 2, 1)
    assert warehouse.execute("SELECT line_or_key, reason FROM quarantine").fetchall() == [
        ("4", "agreement without agreement_id")]
    row = warehouse.execute(
        "SELECT partner_type, starts_on, ends_on, objectives, contributions FROM partners "
        "WHERE partner_id = 'ACP-2026-020'").fetchone()
    assert row[:4] == ("licensee", date(2026, 2, 1), None, "Vânzarea cărților asociației, cu logo")
    assert json.loads(row[4]) == {"ngo": "sigla", "partner": "10% din vânzări"}
    endorser = warehouse.execute(
        "SELECT responsibilities, liaison_contact_id FROM partners WHERE partner_id = 'ACP-2026-021'").fetchone()
    assert endorser == (None, None)
    assert warehouse.execute(
        "SELECT organisation_id IS NOT NULL FROM contacts WHERE email = 'dan.pop@librarie.ro'").fetchone() == (True,)


def test_partners_and_other_presets_samples_together(ingest, warehouse, formats):
    """The presets of this issue plus Stripe over the shared samples: contacts known once, ledger adds up."""
    summaries = ingest(*(formats / name for name in (
        "stripe", "eventbrite", "twilio", "facebook", "volunteers", "partners")))
    assert_accounted(summaries)
    assert sum(s.rows_quarantined for s in summaries) == 3 + 1 + 2 + 1 + 1
    kinds = dict(warehouse.execute("SELECT kind, count(*) FROM contacts GROUP BY kind").fetchall())
    # Radu's +40731222333 (twilio) links to his email only through mailchimp, Mihai's phone only through paypal
    assert kinds == {"person": 21, "organisation": 4}
    stefan = warehouse.execute(
        "SELECT count(DISTINCT contact_id) FROM contact_identities "
        "WHERE identity_value IN ('stefan.radulescu@yahoo.com', '+40745987654')").fetchone()[0]
    assert stefan == 1
    ledger = warehouse.execute(
        "SELECT sum(rows_read) = sum(rows_ingested + rows_duplicate + rows_quarantined) FROM ingested_files"
    ).fetchone()[0]
    assert ledger is True

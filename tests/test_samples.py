"""Every shared sample export at once, with the figures the formats README says a correct ingest gives."""
from __future__ import annotations

from decimal import Decimal

import pytest
from legatura.flows.track import compute_response_times
from legatura.warehouse.db import check_invariants

from tests.conftest import assert_accounted


@pytest.fixture
def everything(ingest, formats):
    """The whole formats folder, each file's preset recognised from its layout."""
    return ingest(formats)


def test_samples_every_file_is_recognised_and_accounted(everything):
    assert_accounted(everything)
    by_status = {}
    for summary in everything:
        by_status.setdefault(summary.status, []).append(summary.path)
    assert sorted(p.rsplit("/", 1)[-1] for p in by_status.pop("skipped")) == [
        "README.md", "legatura.forms-mapping.example.toml"]
    assert set(by_status) == {"loaded"}
    channels = {s.channel for s in everything if s.status == "loaded"}
    assert channels == {"email", "stripe", "paypal", "mailchimp", "forms", "eventbrite", "twilio", "facebook",
                        "volunteers", "partners"}


def test_samples_give_the_readme_figures(everything, warehouse):
    q = lambda sql: warehouse.execute(sql).fetchall()  # noqa: E731
    assert q("SELECT kind, count(*) FROM contacts GROUP BY 1 ORDER BY 1") == [("organisation", 4), ("person", 24)]
    assert q("SELECT count(*) FROM quarantine") == [(13,)]
    assert q("SELECT channel, count(*) FROM quarantine GROUP BY 1 ORDER BY 1") == [
        ("email", 1), ("forms", 2), ("paypal", 2), ("stripe", 3), ("twilio", 1), ("volunteers", 4)]
    assert q("SELECT count(*) FROM donations") == [(17,)]
    assert q("SELECT currency, sum(amount - amount_refunded) FROM donations GROUP BY 1 ORDER BY 1") == [
        ("EUR", Decimal("95.00")), ("RON", Decimal("4464.50"))]
    opted_out = q("SELECT c.full_name FROM consents s JOIN contacts c USING (contact_id) "
                  "WHERE s.channel = 'sms' AND s.status = 'opted_out' ORDER BY 1")
    assert opted_out == [("Ana Mărginean",), ("Gheorghe Nistor",)]
    assert check_invariants(warehouse) == {}


def test_samples_response_times_of_inbound_email(everything, warehouse, settings):
    compute_response_times(warehouse, settings)
    rows = warehouse.execute("""
        SELECT count(*), count(answered_at), median(first_response_seconds),
               count(*) FILTER (WHERE sla_breached)
        FROM inbound_response_times WHERE channel = 'email'""").fetchall()
    assert rows == [(7, 3, 60169, 5)]


def test_samples_same_name_people_stay_apart(everything, warehouse):
    andreis = warehouse.execute(
        "SELECT count(*) FROM contacts WHERE full_name ILIKE 'andrei popescu'").fetchone()[0]
    assert andreis == 3
    pairs = warehouse.execute(
        "SELECT count(*) FROM possible_duplicates WHERE name_key = 'andrei popescu'").fetchone()[0]
    assert pairs == 3

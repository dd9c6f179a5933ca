"""Exact money end to end: amounts as decimals, exact rates, one half-up conversion to the base currency."""
from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from legatura.flows.config import ConfigError, Settings, load_settings
from legatura.transforms.canonical import AMOUNT, CanonicalFrameError, conform
from legatura.transforms.text import amount_key, parse_amount

from tests.conftest import assert_accounted

STRIPE = "id,Created date (UTC),Amount,Amount Refunded,Currency,Status,Customer Email\n"


def _amounts(values: list[str | None], decimal_comma: bool) -> list[Decimal | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    parsed = frame.select(parse_amount(pl.col("v"), decimal_comma)).to_series()
    assert parsed.dtype == AMOUNT
    return parsed.to_list()


def test_parse_amount_reads_romanian_and_english_amounts_exactly():
    assert _amounts(["1.234,50", "2,50", "-43,47", "5.000", "150,00", None], decimal_comma=True) == [
        Decimal("1234.50"), Decimal("2.50"), Decimal("-43.47"), Decimal("5000.00"), Decimal("150.00"), None]
    assert _amounts(["2,500.00", "25.00", "3.5", "0.10", "12.340"], decimal_comma=False) == [
        Decimal("2500.00"), Decimal("25.00"), Decimal("3.50"), Decimal("0.10"), Decimal("12.34")]


def test_parse_amount_refuses_rather_than_rounds():
    # a third decimal, an exponent, words: null (the preset quarantines the record), never 12.34 or 1000
    assert _amounts(["12.345", "1e3", "abc", "", "1.2.3", "99999999999999999.00"], decimal_comma=False) == [None] * 6


def test_amount_key_spells_amounts_as_keys_always_did():
    keys = pl.DataFrame({"a": ["40.00", "12.50", "12.34", "0.10"]}).select(
        amount_key(pl.col("a").cast(AMOUNT))).to_series().to_list()
    assert keys == ["40.0", "12.5", "12.34", "0.1"]


def test_conform_refuses_money_as_a_float():
    frame = pl.DataFrame({"record_no": [0], "donation_id": ["x"], "amount": [2.5]})
    with pytest.raises(CanonicalFrameError, match="money as a float"):
        conform(frame, "donations")


def _net_base(con) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {r[0]: r[1:] for r in con.execute(
        "SELECT donation_id, amount, amount_base, net_amount_base FROM donations").fetchall()}


def test_fx_rounds_half_up_to_the_cent(ingest, warehouse, tmp_path):
    path = tmp_path / "s.csv"
    # an Excel re-save in a Romanian locale: `;` and decimal commas
    path.write_text(STRIPE.replace(",", ";") + "ch_1;2026-01-05 10:00:00;2,50;0,00;eur;Paid;a@x.ro\n"
                    "ch_2;2026-01-05 11:00:00;3,5;0,00;eur;Paid;a@x.ro\n"
                    "ch_3;2026-01-05 12:00:00;1.234,50;0,00;ron;Paid;a@x.ro\n")
    [summary] = ingest(path, channel="stripe")
    assert_accounted([summary])
    assert _net_base(warehouse) == {
        "stripe:ch_1": (Decimal("2.50"), Decimal("12.43"), Decimal("12.43")),      # 12.425, not 12.42
        "stripe:ch_2": (Decimal("3.50"), Decimal("17.40"), Decimal("17.40")),      # 17.395, not 17.39
        "stripe:ch_3": (Decimal("1234.50"), Decimal("1234.50"), Decimal("1234.50")),
    }
    assert warehouse.execute("SELECT DISTINCT fx_rate FROM donations WHERE currency = 'EUR'").fetchall() == [
        (Decimal("4.97"),)]


def test_refund_fold_converts_the_remaining_amount_the_same_way(ingest, warehouse, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(STRIPE + "ch_1,2026-01-05 10:00:00,10.00,0.00,eur,Paid,a@x.ro\n")
    ingest(first, channel="stripe")
    later = tmp_path / "b.csv"
    later.write_text(STRIPE + "ch_1,2026-01-05 10:00:00,10.00,7.50,eur,Paid,a@x.ro\n")
    ingest(later, channel="stripe")
    # 2.50 EUR left at 4.97: 12.425 rounds half-up to 12.43
    assert warehouse.execute("SELECT amount_refunded, net_amount_base FROM donations").fetchall() == [
        (Decimal("7.50"), Decimal("12.43"))]


def test_paypal_romanian_amounts_and_refunds_are_exact(ingest, warehouse, formats):
    ingest(formats / "paypal", channel="paypal")
    amounts = warehouse.execute("SELECT typeof(amount), typeof(net_amount_base) FROM donations LIMIT 1").fetchall()
    assert amounts == [("DECIMAL(18,2)", "DECIMAL(18,2)")]
    refunded = warehouse.execute("SELECT sum(amount_refunded) FROM donations").fetchone()[0]
    assert isinstance(refunded, Decimal)


def test_mapping_donations_read_decimal_commas_exactly(ingest, warehouse, tmp_path):
    config = Settings(mappings={"banca": {"target": "donations", "key": "Ref", "timestamp_format": "%d.%m.%Y",
                                          "columns": {"Data": "donated_at", "Suma": "amount", "Email": "email"}}})
    path = tmp_path / "banca.csv"
    path.write_text("Ref;Data;Suma;Email\nR1;05.01.2026;1.234,50;a@x.ro\nR2;06.01.2026;0,05;b@x.ro\n")
    from legatura.flows.ingest import ingest_paths

    [summary] = ingest_paths(warehouse, [path], config, channel="banca")
    assert (summary.rows_ingested, summary.rows_quarantined) == (2, 0), summary
    assert warehouse.execute("SELECT amount FROM donations ORDER BY 1").fetchall() == [
        (Decimal("0.05"),), (Decimal("1234.50"),)]


def test_fx_rates_are_read_from_toml_as_exact_decimals(tmp_path):
    config = tmp_path / "legatura.toml"
    config.write_text('[money]\nbase_currency = "RON"\nfx = { EUR = 4.97, USD = "4.6012", GBP = 5.8123456 }\n')
    fx = load_settings(config, env={}).money.fx
    assert fx == {"EUR": Decimal("4.97"), "USD": Decimal("4.6012"), "GBP": Decimal("5.8123456")}


@pytest.mark.parametrize("rate", ["-1", "0", '"4.123456789"'])
def test_fx_rates_must_be_positive_with_at_most_eight_decimals(tmp_path, rate):
    config = tmp_path / "legatura.toml"
    config.write_text(f"[money]\nfx = {{ EUR = {rate} }}\n")
    with pytest.raises(ConfigError):
        load_settings(config, env={})


def _gifts_sum(ingest, warehouse, tmp_path: Path, gifts: int) -> None:
    """`gifts` gifts in RON and EUR with random cents: the warehouse's sums equal Python's decimal ones."""
    rng = random.Random(gifts)
    cents = [rng.randrange(1, 500_000) for _ in range(gifts)]
    eur = [rng.random() < 0.3 for _ in range(gifts)]
    frame = pl.DataFrame({
        "id": [f"ch_{i}" for i in range(gifts)],
        "created": "2026-01-05 10:00:00",
        "amount": [f"{c // 100}.{c % 100:02d}" for c in cents],
        "refunded": "0.00",
        "currency": ["eur" if e else "ron" for e in eur],
        "status": "Paid",
        "email": [f"d{i % 1000}@x.ro" for i in range(gifts)],
    })
    path = tmp_path / "gifts.csv"
    with path.open("w") as handle:
        handle.write(STRIPE)
        frame.write_csv(handle, include_header=False)
    [summary] = ingest(path, channel="stripe")
    assert summary.rows_ingested == gifts
    rate, cent = Decimal("4.97"), Decimal("0.01")
    amounts = [Decimal(c) / 100 for c in cents]
    expected_amount = sum(amounts, Decimal(0))
    expected_base = sum(((a * rate).quantize(cent, ROUND_HALF_UP) if e else a for a, e in zip(amounts, eur)),
                        Decimal(0))
    assert warehouse.execute("SELECT sum(amount), sum(net_amount_base) FROM donations").fetchone() == (
        expected_amount, expected_base)


def test_sum_of_100000_gifts_is_exact(ingest, warehouse, tmp_path):
    _gifts_sum(ingest, warehouse, tmp_path, 100_000)


@pytest.mark.slow
def test_sum_of_1000000_gifts_is_exact(ingest, warehouse, tmp_path):
    _gifts_sum(ingest, warehouse, tmp_path, 1_000_000)

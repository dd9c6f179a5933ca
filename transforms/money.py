"""Money: exact amounts and the exchange rates that turn them into the base currency.

The conversion itself (amount × rate, rounded half-up to the base currency's minor unit) happens in one
place, the warehouse macro `to_base_currency` (warehouse/views/005_money.sql), used by the loader when a gift
is inserted and by the refund fold when a refund changes it. Nothing here rounds.
"""
from __future__ import annotations

from decimal import Decimal

import polars as pl
from babel.numbers import get_currency_precision

RATE = pl.Decimal(18, 8)   # an exchange rate: up to 8 decimals, exact (the configuration refuses more)
WAREHOUSE_DIGITS = 2       # the warehouse keeps amounts as DECIMAL(18,2)


def minor_digits(currency: str) -> int:
    """Decimals of a currency's minor unit (RON, EUR 2; JPY, HUF 0), at most the warehouse's 2."""
    return min(get_currency_precision(currency.upper()), WAREHOUSE_DIGITS)


def rates_to_base(base_currency: str, fx: dict[str, Decimal]) -> dict[str, Decimal]:
    """Units of base currency per unit of each currency, upper-case codes; the base itself at exactly 1."""
    return {base_currency.upper(): Decimal(1), **{code.upper(): Decimal(rate) for code, rate in fx.items()}}


def with_fx_rate(frame: pl.DataFrame, rates: dict[str, Decimal]) -> pl.DataFrame:
    """Upper-case currency codes and each row's exact rate to the base currency (null: no rate known)."""
    currency = pl.col("currency").str.to_uppercase()
    return frame.with_columns(
        currency=currency,
        fx_rate=currency.replace_strict(rates, default=None, return_dtype=RATE),
    )

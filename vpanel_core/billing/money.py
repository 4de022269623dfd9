"""Amounts are integers in a currency's smallest unit; this knows how small that is."""

from __future__ import annotations

from decimal import Decimal

from vpanel_core.errors import ValidationError

EXPONENTS = {"JPY": 0, "USDT": 6}
USDT_PER_USD_CENT = 10_000  # micro-USDT per US cent, priced 1:1


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency.upper(), 2)


def format_amount(amount_minor: int, currency: str) -> str:
    """`1234, "USD"` → `12.34 USD`; exact (Decimal), never a float."""
    digits = exponent(currency)
    value = Decimal(amount_minor).scaleb(-digits)
    return f"{value:.{digits}f} {currency.upper()}"


def usdt_base_micro(amount_minor: int, currency: str) -> int:
    """The USDT price of an order in micro-USDT; only dollar prices convert 1:1."""
    currency = currency.upper()
    if currency == "USDT":
        return amount_minor
    if currency == "USD":
        return amount_minor * USDT_PER_USD_CENT
    raise ValidationError(f"plans priced in {currency} cannot be paid in USDT (USD or USDT only)")

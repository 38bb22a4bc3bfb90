"""The per-unit model: ``units x unit_amount``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tallybook.domain.catalog.model import Price
from tallybook.domain.pricing.result import PriceResult, price_text, required

REQUIRED = ("unit_amount",)
OPTIONAL: tuple[str, ...] = ()


def price_per_unit(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """``units x unit_amount``."""
    unit_amount = required(price.unit_amount, "unit_amount", price)
    return PriceResult(units * unit_amount, unit_amount)


def describe(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    """``x 0.002 USD``."""
    assert price.unit_amount is not None
    return f"x {price_text(price.unit_amount, currency)} {currency}"

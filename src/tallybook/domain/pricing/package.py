"""The package model: whole packages of ``package_size`` units x ``package_amount``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

from tallybook.domain.catalog.model import PackageRounding, Price
from tallybook.domain.money import DECIMAL_CONTEXT
from tallybook.domain.pricing.result import (
    ONE,
    PriceResult,
    invalid,
    price_text,
    quantity_text,
    required,
)

REQUIRED = ("package_size", "package_amount")
OPTIONAL = ("rounding",)


def price_package(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Whole packages (``ceil`` or ``floor`` of units / package_size) x package_amount."""
    package_amount = required(price.package_amount, "package_amount", price)
    return PriceResult(package_count(price, units) * package_amount, None)


def package_count(price: Price, units: Decimal) -> Decimal:
    """How many packages ``units`` make under the price's rounding (up: ceil, down: floor)."""
    size = required(price.package_size, "package_size", price)
    if size <= 0:
        raise invalid(price, f"package_size must be positive, got {size}")
    with localcontext(DECIMAL_CONTEXT):
        whole, rest = divmod(units, size)
    if rest > 0 and price.rounding is PackageRounding.UP:
        return whole + ONE
    return whole


def describe(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    """``= 3 packages of 1,000 x 5.00 USD``."""
    assert price.package_size is not None and price.package_amount is not None
    count = package_count(price, units)
    noun = "package" if count == 1 else "packages"
    return (
        f"= {quantity_text(count)} {noun} of {quantity_text(price.package_size)} "
        f"x {price_text(price.package_amount, currency)} {currency}"
    )

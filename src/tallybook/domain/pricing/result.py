"""What a pricing model returns, and the checks and text every model shares.

``PriceResult`` is exact (UNROUNDED); rounding happens once per line, in ``rating``
through ``money.round_amount``. ``TierSlice`` is one tier's share of a tiered price.
``quantity_text`` and ``price_text`` write numbers in line descriptions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from tallybook.domain.catalog.model import Price
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import round_amount, round_quantity_for_display

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class TierSlice:
    """One tier's share of a tiered price, for a readable breakdown.

    The tier covers usage above the previous tier's ``up_to`` up to ``last_unit``
    (inclusive; ``None`` when open-ended). ``first_unit`` is how the tier is shown:
    previous ``up_to`` + 1 when that bound is a whole number ("6-10", "11+"), the
    previous ``up_to`` itself otherwise ("above 0.5"). ``amount`` is exact (unrounded):
    ``units x unit_amount + flat_amount``.
    """

    tier_index: int
    first_unit: Decimal
    last_unit: Decimal | None
    units: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PriceResult:
    """The exact price of some units: ``amount`` is UNROUNDED.

    ``unit_amount`` is the single unit price that applies to every unit (per_unit; the
    volume tier's price), ``None`` when no single price does (graduated, package,
    percentage). ``slices`` is the tier breakdown (empty for untiered models).
    """

    amount: Decimal
    unit_amount: Decimal | None
    slices: tuple[TierSlice, ...] = ()


# (price, billable units, per-event values or None) -> exact result
PriceFunction = Callable[[Price, Decimal, Sequence[Decimal] | None], PriceResult]
# (price, its result, billable units, currency) -> the pricing part of a line description
Describe = Callable[[Price, PriceResult, Decimal, str], str]


def required(value: Decimal | None, field: str, price: Price) -> Decimal:
    """``value``, or ValidationError ``invalid_price`` naming the missing ``field``."""
    if value is None:
        raise invalid(price, f"needs {field}")
    return value


def invalid(price: Price, problem: str) -> ValidationError:
    """The ``invalid_price`` error for ``price``."""
    return ValidationError(
        f"{price.model.value} price {problem}",
        code="invalid_price",
        details={"model": price.model.value},
    )


def quantity_text(value: Decimal) -> str:
    """A quantity for people: thousands separators, no trailing zeros, rounded for reading
    (70,000; 1.5; 27.7464): the line's ``quantity`` and ``used`` fields stay exact."""
    return f"{round_quantity_for_display(value):,f}"


def price_text(value: Decimal, currency: str) -> str:
    """A price shown with at least the currency's minor units (7 -> 7.00; 0.003 kept)."""
    padded = round_amount(value, currency)
    return f"{padded if padded == value else value:,f}"

"""Pricing models: how the billable units of a usage charge become an amount.

One function per model, chosen through the ``MODELS`` table (adding a model is one
function and one entry). Every function is pure and returns an **unrounded**
``PriceResult``; rounding happens once per invoice line, in ``rating`` through
``money.round_amount``.

Units here are the *billable* units: the allowance (``included``) has already been
consumed by ``rating``. Units may be fractional (GB, hours).

Tier bounds (graduated and volume): tier ``i`` holds the usage ``u`` with
``tiers[i-1].up_to < u <= tiers[i].up_to`` (0 below the first tier; the last tier is
open-ended, ``up_to=None``). Stripe's "1-5 @ 7.00, 6-10 @ 6.50, 11+ @ 6.00" is
``up_to`` 5, 10, None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tallybook.domain.catalog.model import PackageRounding, Price, PricingModel, Tier
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import DECIMAL_CONTEXT

__all__ = [
    "MODELS",
    "PriceFunction",
    "PriceResult",
    "TierSlice",
    "package_count",
    "price_graduated",
    "price_package",
    "price_per_unit",
    "price_percentage",
    "price_units",
    "price_volume",
]

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


PriceFunction = Callable[[Price, Decimal, Sequence[Decimal] | None], PriceResult]


def price_units(
    price: Price, units: Decimal, *, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Price ``units`` billable units with ``price`` (exact, unrounded).

    ``event_values`` are the per-event values (after the allowance) for the percentage
    model; other models ignore them.
    """
    if units < 0:
        raise ValidationError(
            f"billable units cannot be negative, got {units}", code="invalid_units"
        )
    with localcontext(DECIMAL_CONTEXT):
        return MODELS[price.model](price, units, event_values)


def price_per_unit(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """``units x unit_amount``."""
    unit_amount = _required(price.unit_amount, "unit_amount", price)
    return PriceResult(units * unit_amount, unit_amount)


def price_graduated(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Each tier prices only its own units; a tier's flat amount counts once usage
    reaches it (the first tier's always, even at zero usage)."""
    slices: list[TierSlice] = []
    for index, (tier, lower) in enumerate(_tiers_with_lower_bounds(price)):
        if index > 0 and units <= lower:
            break
        top = units if tier.up_to is None else min(units, tier.up_to)
        slices.append(_slice(index, tier, lower, max(ZERO, top - lower)))
    return PriceResult(sum((s.amount for s in slices), ZERO), None, tuple(slices))


def price_volume(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """The tier holding the total prices every unit, plus that tier's flat amount
    (zero units fall in the first tier and cost its flat amount)."""
    for index, (tier, lower) in enumerate(_tiers_with_lower_bounds(price)):
        if tier.up_to is None or units <= tier.up_to:
            chosen = _slice(index, tier, lower, units)
            return PriceResult(chosen.amount, tier.unit_amount, (chosen,))
    raise AssertionError("unreachable: the last tier is open-ended")  # pragma: no cover


def price_package(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Whole packages (``ceil`` or ``floor`` of units / package_size) x package_amount."""
    package_amount = _required(price.package_amount, "package_amount", price)
    return PriceResult(package_count(price, units) * package_amount, None)


def price_percentage(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Per event: ``value x rate / 100 + fixed_amount``, clamped to
    ``[min_per_event, max_per_event]``, summed. Without per-event values the total
    is one event (and zero units are no event at all)."""
    rate = _required(price.rate, "rate", price)
    if event_values is None:
        event_values = [units] if units > 0 else []
    amount = sum((_percentage_fee(price, rate, value) for value in event_values), ZERO)
    return PriceResult(amount, None)


MODELS: dict[PricingModel, PriceFunction] = {
    PricingModel.PER_UNIT: price_per_unit,
    PricingModel.GRADUATED: price_graduated,
    PricingModel.VOLUME: price_volume,
    PricingModel.PACKAGE: price_package,
    PricingModel.PERCENTAGE: price_percentage,
}


def package_count(price: Price, units: Decimal) -> Decimal:
    """How many packages ``units`` make under the price's rounding (up: ceil, down: floor)."""
    size = _required(price.package_size, "package_size", price)
    if size <= 0:
        raise _invalid(price, f"package_size must be positive, got {size}")
    with localcontext(DECIMAL_CONTEXT):
        whole, rest = divmod(units, size)
    if rest > 0 and price.rounding is PackageRounding.UP:
        return whole + ONE
    return whole


def _percentage_fee(price: Price, rate: Decimal, value: Decimal) -> Decimal:
    fee = value * rate.scaleb(-2) + price.fixed_amount
    if price.min_per_event is not None:
        fee = max(fee, price.min_per_event)
    if price.max_per_event is not None:
        fee = min(fee, price.max_per_event)
    return fee


def _slice(index: int, tier: Tier, lower: Decimal, units: Decimal) -> TierSlice:
    first_unit = lower + ONE if lower % ONE == 0 else lower
    amount = units * tier.unit_amount + tier.flat_amount
    return TierSlice(
        index, first_unit, tier.up_to, units, tier.unit_amount, tier.flat_amount, amount
    )


def _tiers_with_lower_bounds(price: Price) -> list[tuple[Tier, Decimal]]:
    """Pair each tier with its exclusive lower bound, checking the tier table's shape."""
    if not price.tiers:
        raise _invalid(price, "needs at least one tier")
    pairs: list[tuple[Tier, Decimal]] = []
    lower = ZERO
    for index, tier in enumerate(price.tiers):
        is_last = index == len(price.tiers) - 1
        if tier.up_to is None and not is_last:
            raise _invalid(price, f"tier {index} is open-ended but is not the last tier")
        if tier.up_to is not None and is_last:
            raise _invalid(price, "needs an open-ended last tier (up_to None)")
        if tier.up_to is not None and tier.up_to <= lower:
            raise _invalid(price, f"tiers must ascend: tier {index} up_to {tier.up_to}")
        pairs.append((tier, lower))
        lower = tier.up_to if tier.up_to is not None else lower
    return pairs


def _required(value: Decimal | None, field: str, price: Price) -> Decimal:
    if value is None:
        raise _invalid(price, f"needs {field}")
    return value


def _invalid(price: Price, problem: str) -> ValidationError:
    return ValidationError(
        f"{price.model.value} price {problem}",
        code="invalid_price",
        details={"model": price.model.value},
    )

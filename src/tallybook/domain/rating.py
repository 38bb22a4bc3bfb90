"""Rating: a plan's charges plus measured usage become invoice line items.

Policies (CONTRACT.md):

- **Allowance first.** ``included`` units are consumed before any model prices the rest;
  a usage line's ``quantity`` is the billable units ``max(0, used - allowance)`` and the
  line also reports ``used`` and ``included``.
- **Rounding.** Pricing is exact; each line's ``amount`` is rounded once, half-up to the
  currency's minor unit, by ``money.round_amount``. Totals are sums of rounded lines.
- **Per-dimension prices.** With ``prices_by_dimension`` (or ``dimension``) on the charge
  and per-dimension usage given, there is one line per dimension value, in sorted order of
  the value; the allowance is consumed across them in that order. Usage not attributed to
  any value (``used`` above the sum of the values) is rated last at the default price.

Billing fills in ``period_start``/``period_end`` (``LineItem.for_period``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum

from tallybook.domain.catalog import FlatCharge, Price, PricingModel, UsageCharge
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import (
    DECIMAL_CONTEXT,
    minor_units,
    round_amount,
    round_quantity_for_display,
)
from tallybook.domain.pricing import PriceResult, TierSlice, package_count, price_units

__all__ = [
    "LineItem",
    "LineType",
    "billable_units",
    "invoice_totals",
    "minimum_spend_true_up",
    "rate_flat",
    "rate_usage",
]

ZERO = Decimal(0)
ONE = Decimal(1)


class LineType(StrEnum):
    FLAT = "flat"
    USAGE = "usage"
    TRUE_UP = "true_up"
    PRORATION = "proration"
    ADJUSTMENT = "adjustment"
    CREDIT = "credit"
    DISCOUNT = "discount"


@dataclass(frozen=True, slots=True)
class LineItem:
    """One invoice line. ``amount`` is rounded to the currency's minor unit.

    ``breakdown`` holds the tier slices with their exact (unrounded) amounts; the line
    amount is the rounded sum, so rounding each slice for display may differ from it.
    """

    type: LineType
    charge: str
    description: str
    quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal
    used: Decimal | None = None
    included: Decimal | None = None
    breakdown: tuple[TierSlice, ...] = ()
    dimension: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None

    def for_period(self, start: datetime, end: datetime) -> LineItem:
        """This line naming the service period ``[start, end)`` it bills."""
        return replace(self, period_start=start, period_end=end)


def billable_units(used: Decimal, allowance: Decimal) -> Decimal:
    """Units left to price once the allowance is consumed: ``max(0, used - allowance)``."""
    return max(ZERO, used - allowance)


def rate_usage(
    charge: UsageCharge,
    used: Decimal,
    currency: str,
    *,
    event_values: Sequence[Decimal] | None = None,
    by_dimension: Mapping[str, Decimal] | None = None,
    allowance: Decimal | None = None,
) -> list[LineItem]:
    """Usage lines for ``used`` units of ``charge`` (one line, or one per dimension value).

    ``allowance`` defaults to ``charge.included`` (billing passes a scaled one when it
    prorates). ``event_values`` (percentage model) are the period's per-event values in
    chronological order; the allowance is consumed from the earliest, and events it
    covers entirely are not charged at all.
    """
    minor_units(currency)  # fail fast on an unknown currency
    allowance = charge.included if allowance is None else allowance
    if allowance < 0:
        raise ValidationError(
            f"allowance cannot be negative, got {allowance}", code="invalid_units"
        )
    if by_dimension is not None and (charge.prices_by_dimension or charge.dimension):
        return _rate_dimensions(charge, used, currency, by_dimension, allowance, event_values)
    return [_usage_line(charge, charge.price, used, allowance, currency, event_values)]


def _rate_dimensions(
    charge: UsageCharge,
    used: Decimal,
    currency: str,
    by_dimension: Mapping[str, Decimal],
    allowance: Decimal,
    event_values: Sequence[Decimal] | None,
) -> list[LineItem]:
    groups: list[tuple[str | None, Decimal]] = sorted(by_dimension.items())
    unattributed = used - sum(by_dimension.values(), ZERO)
    if unattributed > 0:
        groups.append((None, unattributed))
    prices = [_dimension_price(charge, value) for value, _ in groups]
    if event_values is not None and any(p.model is PricingModel.PERCENTAGE for p in prices):
        raise ValidationError(
            "per-event values cannot be combined with per-dimension prices",
            code="unsupported_rating",
        )
    lines: list[LineItem] = []
    remaining = allowance
    for (value, dimension_used), price in zip(groups, prices, strict=True):
        share = min(remaining, max(dimension_used, ZERO))
        remaining -= share
        lines.append(_usage_line(charge, price, dimension_used, share, currency, None, value))
    return lines


def _dimension_price(charge: UsageCharge, value: str | None) -> Price:
    if value is None:
        return charge.price
    return charge.prices_by_dimension.get(value, charge.price)


def _usage_line(
    charge: UsageCharge,
    price: Price,
    used: Decimal,
    allowance: Decimal,
    currency: str,
    event_values: Sequence[Decimal] | None,
    dimension: str | None = None,
) -> LineItem:
    billable = billable_units(used, allowance)
    if event_values is not None:
        event_values = _events_after_allowance(event_values, allowance)
    result = price_units(price, billable, event_values=event_values)
    name = charge.name or charge.key
    if dimension is not None:
        name = f"{name} ({dimension})"
    pricing = _DESCRIBE[price.model](price, result, billable, currency)
    return LineItem(
        type=LineType.USAGE,
        charge=charge.key,
        description=f"{name}: {_usage_text(billable, used, allowance)} {pricing}",
        quantity=billable,
        unit_amount=result.unit_amount,
        amount=round_amount(result.amount, currency),
        used=used,
        included=allowance,
        breakdown=result.slices,
        dimension=dimension,
    )


def _events_after_allowance(values: Sequence[Decimal], allowance: Decimal) -> list[Decimal]:
    """Consume the allowance from the earliest events; drop events it fully covers."""
    remaining = allowance
    left: list[Decimal] = []
    for value in values:
        if remaining > 0 and value > 0:
            taken = min(value, remaining)
            remaining -= taken
            if taken == value:
                continue
            value -= taken
        left.append(value)
    return left


def _usage_text(billable: Decimal, used: Decimal, allowance: Decimal) -> str:
    if allowance == 0:
        return _qty(billable)
    return f"{_qty(billable)} billable of {_qty(used)} used ({_qty(allowance)} included)"


def rate_flat(
    charge: FlatCharge,
    currency: str,
    *,
    quantity: Decimal | None = None,
    fraction: Decimal = ONE,
    fraction_label: str | None = None,
    line_type: LineType | None = None,
) -> LineItem:
    """A flat fee: ``amount``, or ``unit_amount x quantity`` for licensed seats, times
    ``fraction`` of the period for proration.

    ``fraction_label`` is shown in the description ("15/31 days"); without it the
    fraction is shown as a percentage. The line type is ``flat`` for a whole period and
    ``proration`` otherwise, unless ``line_type`` says.
    """
    unit_amount, quantity = _flat_terms(charge, quantity)
    name = charge.name or charge.key
    price = f"{_price(unit_amount, currency)} {currency}"
    text = f"{name}: {_qty(quantity)} x {price}" if charge.is_licensed else f"{name}: {price}"
    if fraction != ONE:
        text += f" (prorated {fraction_label or _percent(fraction)})"
    with localcontext(DECIMAL_CONTEXT):
        exact = unit_amount * quantity * fraction
    return LineItem(
        type=line_type or (LineType.FLAT if fraction == ONE else LineType.PRORATION),
        charge=charge.key,
        description=text,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=round_amount(exact, currency),
    )


def _flat_terms(charge: FlatCharge, quantity: Decimal | None) -> tuple[Decimal, Decimal]:
    """(unit_amount, quantity) of a flat charge: the amount x 1, or the seat price x seats."""
    if not charge.is_licensed:
        if quantity is not None:
            raise _flat_error(charge, "takes no quantity (it has no quantity_key)")
        if charge.amount is None:
            raise _flat_error(charge, "has no amount")
        return charge.amount, ONE
    if charge.unit_amount is None:
        raise _flat_error(charge, "has a quantity_key but no unit_amount")
    if quantity is None or quantity < 0:
        raise _flat_error(charge, f"needs a non-negative {charge.quantity_key} quantity")
    return charge.unit_amount, quantity


def _flat_error(charge: FlatCharge, problem: str) -> ValidationError:
    return ValidationError(
        f"flat charge {charge.key!r} {problem}",
        code="invalid_charge",
        details={"charge": charge.key},
    )


def minimum_spend_true_up(
    minimum: Decimal,
    lines: Sequence[LineItem],
    currency: str,
    *,
    fraction: Decimal = ONE,
    fraction_label: str | None = None,
    charge: str = "minimum_spend",
) -> LineItem | None:
    """A ``true_up`` line for the shortfall of ``minimum x fraction`` over the rounded
    lines' sum, or ``None`` when the lines reach the minimum.

    Pass the lines that count toward the commitment (usually every charge line, before
    credits and discounts).
    """
    spent = invoice_totals(lines, currency)
    with localcontext(DECIMAL_CONTEXT):
        shortfall = round_amount(minimum * fraction - spent, currency)
    if shortfall <= 0:
        return None
    commitment = f"{_price(minimum, currency)} {currency}"
    if fraction != ONE:
        commitment += f" (prorated {fraction_label or _percent(fraction)})"
    return LineItem(
        type=LineType.TRUE_UP,
        charge=charge,
        description=(
            f"Minimum spend {commitment}: spent {_price(spent, currency)}, "
            f"shortfall {_price(shortfall, currency)} {currency}"
        ),
        quantity=ONE,
        unit_amount=shortfall,
        amount=shortfall,
    )


def invoice_totals(lines: Sequence[LineItem], currency: str) -> Decimal:
    """The subtotal: the sum of the (already rounded) line amounts.

    Raises ``ValidationError`` (``unrounded_line``) if a line amount is not rounded to
    the currency's minor unit: totals are sums of rounded lines, never re-rounded.
    """
    total = ZERO
    for line in lines:
        if round_amount(line.amount, currency) != line.amount:
            raise ValidationError(
                f"line {line.charge!r} amount {line.amount} is not rounded to {currency}",
                code="unrounded_line",
            )
        total += line.amount
    return round_amount(total, currency)  # exact: only fixes the exponent ("0" -> "0.00")


# -- descriptions ---------------------------------------------------------------------

Describe = Callable[[Price, PriceResult, Decimal, str], str]


def _describe_per_unit(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    assert price.unit_amount is not None
    return f"x {_price(price.unit_amount, currency)} {currency}"


def _describe_graduated(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    parts = [_slice_text(s, currency) for s in result.slices]
    return f"in graduated tiers: {' + '.join(p for p in parts if p) or '0'} {currency}"


def _describe_volume(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    tier = result.slices[0]
    text = f"x {_price(tier.unit_amount, currency)}"
    if tier.flat_amount:
        text += f" + {_price(tier.flat_amount, currency)} flat"
    return f"{text} {currency} (volume tier {_tier_range(tier)})"


def _describe_package(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    assert price.package_size is not None and price.package_amount is not None
    count = package_count(price, units)
    noun = "package" if count == 1 else "packages"
    return (
        f"= {_qty(count)} {noun} of {_qty(price.package_size)} "
        f"x {_price(price.package_amount, currency)} {currency}"
    )


def _describe_percentage(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    assert price.rate is not None
    text = f"at {_qty(price.rate)}%"
    if price.fixed_amount:
        text += f" + {_price(price.fixed_amount, currency)} {currency} per event"
    limits = [
        f"{label} {_price(value, currency)} {currency}"
        for label, value in (("min", price.min_per_event), ("max", price.max_per_event))
        if value is not None
    ]
    return f"{text} ({', '.join(limits)} per event)" if limits else text


_DESCRIBE: dict[PricingModel, Describe] = {
    PricingModel.PER_UNIT: _describe_per_unit,
    PricingModel.GRADUATED: _describe_graduated,
    PricingModel.VOLUME: _describe_volume,
    PricingModel.PACKAGE: _describe_package,
    PricingModel.PERCENTAGE: _describe_percentage,
}


def _slice_text(tier: TierSlice, currency: str) -> str:
    parts = []
    if tier.units:
        parts.append(f"{_qty(tier.units)} x {_price(tier.unit_amount, currency)}")
    if tier.flat_amount:
        parts.append(f"{_price(tier.flat_amount, currency)} flat")
    return " + ".join(parts)


def _tier_range(tier: TierSlice) -> str:
    if tier.last_unit is None:
        return f"{_qty(tier.first_unit)}+"
    return f"{_qty(tier.first_unit)}-{_qty(tier.last_unit)}"


def _qty(value: Decimal) -> str:
    """A quantity for people: thousands separators, no trailing zeros, rounded for reading
    (70,000; 1.5; 27.7464): the line's ``quantity`` and ``used`` fields stay exact."""
    return f"{round_quantity_for_display(value):,f}"


def _price(value: Decimal, currency: str) -> str:
    """A price shown with at least the currency's minor units (7 -> 7.00; 0.003 kept)."""
    padded = round_amount(value, currency)
    return f"{padded if padded == value else value:,f}"


def _percent(fraction: Decimal) -> str:
    return f"{fraction:.2%}"

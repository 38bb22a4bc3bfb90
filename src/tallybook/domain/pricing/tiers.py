"""Tier tables, shared by the graduated and volume models.

Tier bounds: tier ``i`` holds the usage ``u`` with ``tiers[i-1].up_to < u <=
tiers[i].up_to`` (0 below the first tier; the last tier is open-ended, ``up_to=None``).
Stripe's "1-5 @ 7.00, 6-10 @ 6.50, 11+ @ 6.00" is ``up_to`` 5, 10, None.
"""

from __future__ import annotations

from decimal import Decimal

from tallybook.domain.catalog.model import Price, Tier
from tallybook.domain.pricing.result import ONE, ZERO, TierSlice, invalid, price_text, quantity_text


def tier_slice(index: int, tier: Tier, lower: Decimal, units: Decimal) -> TierSlice:
    """Tier ``index``'s share: ``units`` of it, above the exclusive bound ``lower``."""
    first_unit = lower + ONE if lower % ONE == 0 else lower
    amount = units * tier.unit_amount + tier.flat_amount
    return TierSlice(
        index, first_unit, tier.up_to, units, tier.unit_amount, tier.flat_amount, amount
    )


def tiers_with_lower_bounds(price: Price) -> list[tuple[Tier, Decimal]]:
    """Pair each tier with its exclusive lower bound, checking the tier table's shape."""
    if not price.tiers:
        raise invalid(price, "needs at least one tier")
    pairs: list[tuple[Tier, Decimal]] = []
    lower = ZERO
    for index, tier in enumerate(price.tiers):
        is_last = index == len(price.tiers) - 1
        if tier.up_to is None and not is_last:
            raise invalid(price, f"tier {index} is open-ended but is not the last tier")
        if tier.up_to is not None and is_last:
            raise invalid(price, "needs an open-ended last tier (up_to None)")
        if tier.up_to is not None and tier.up_to <= lower:
            raise invalid(price, f"tiers must ascend: tier {index} up_to {tier.up_to}")
        pairs.append((tier, lower))
        lower = tier.up_to if tier.up_to is not None else lower
    return pairs


def slice_text(tier: TierSlice, currency: str) -> str:
    """``5 x 7.00 + 10.00 flat``: what one tier charged."""
    parts = []
    if tier.units:
        parts.append(f"{quantity_text(tier.units)} x {price_text(tier.unit_amount, currency)}")
    if tier.flat_amount:
        parts.append(f"{price_text(tier.flat_amount, currency)} flat")
    return " + ".join(parts)


def tier_range(tier: TierSlice) -> str:
    """``6-10`` or ``11+``."""
    if tier.last_unit is None:
        return f"{quantity_text(tier.first_unit)}+"
    return f"{quantity_text(tier.first_unit)}-{quantity_text(tier.last_unit)}"

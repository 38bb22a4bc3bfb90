"""The volume model: the tier holding the total prices every unit (``tiers``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tallybook.domain.catalog.model import Price
from tallybook.domain.pricing.result import PriceResult, price_text
from tallybook.domain.pricing.tiers import tier_range, tier_slice, tiers_with_lower_bounds

REQUIRED = ("tiers",)
OPTIONAL: tuple[str, ...] = ()


def price_volume(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """The tier holding the total prices every unit, plus that tier's flat amount
    (zero units fall in the first tier and cost its flat amount)."""
    for index, (tier, lower) in enumerate(tiers_with_lower_bounds(price)):
        if tier.up_to is None or units <= tier.up_to:
            chosen = tier_slice(index, tier, lower, units)
            return PriceResult(chosen.amount, tier.unit_amount, (chosen,))
    raise AssertionError("unreachable: the last tier is open-ended")  # pragma: no cover


def describe(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    """``x 6.50 USD (volume tier 6-10)``."""
    tier = result.slices[0]
    text = f"x {price_text(tier.unit_amount, currency)}"
    if tier.flat_amount:
        text += f" + {price_text(tier.flat_amount, currency)} flat"
    return f"{text} {currency} (volume tier {tier_range(tier)})"

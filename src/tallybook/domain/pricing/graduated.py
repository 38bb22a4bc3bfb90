"""The graduated model: each tier prices only its own units (``tiers`` for the bounds)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tallybook.domain.catalog.model import Price
from tallybook.domain.pricing.result import ZERO, PriceResult, TierSlice
from tallybook.domain.pricing.tiers import slice_text, tier_slice, tiers_with_lower_bounds

REQUIRED = ("tiers",)
OPTIONAL: tuple[str, ...] = ()


def price_graduated(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Each tier prices only its own units; a tier's flat amount counts once usage
    reaches it (the first tier's always, even at zero usage)."""
    slices: list[TierSlice] = []
    for index, (tier, lower) in enumerate(tiers_with_lower_bounds(price)):
        if index > 0 and units <= lower:
            break
        top = units if tier.up_to is None else min(units, tier.up_to)
        slices.append(tier_slice(index, tier, lower, max(ZERO, top - lower)))
    return PriceResult(sum((s.amount for s in slices), ZERO), None, tuple(slices))


def describe(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    """``in graduated tiers: 5 x 7.00 + 5 x 6.50 USD``."""
    parts = [slice_text(s, currency) for s in result.slices]
    return f"in graduated tiers: {' + '.join(p for p in parts if p) or '0'} {currency}"

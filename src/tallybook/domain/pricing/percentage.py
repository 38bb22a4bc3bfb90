"""The percentage model: a percent of each event's value, plus a fixed fee, clamped."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tallybook.domain.catalog.model import Price
from tallybook.domain.pricing.result import ZERO, PriceResult, price_text, quantity_text, required

REQUIRED = ("rate",)
OPTIONAL = ("fixed_amount", "min_per_event", "max_per_event")


def price_percentage(
    price: Price, units: Decimal, event_values: Sequence[Decimal] | None = None
) -> PriceResult:
    """Per event: ``value x rate / 100 + fixed_amount``, clamped to
    ``[min_per_event, max_per_event]``, summed. Without per-event values the total
    is one event (and zero units are no event at all)."""
    rate = required(price.rate, "rate", price)
    if event_values is None:
        event_values = [units] if units > 0 else []
    amount = sum((_fee(price, rate, value) for value in event_values), ZERO)
    return PriceResult(amount, None)


def _fee(price: Price, rate: Decimal, value: Decimal) -> Decimal:
    fee = value * rate.scaleb(-2) + price.fixed_amount
    if price.min_per_event is not None:
        fee = max(fee, price.min_per_event)
    if price.max_per_event is not None:
        fee = min(fee, price.max_per_event)
    return fee


def describe(price: Price, result: PriceResult, units: Decimal, currency: str) -> str:
    """``at 2.9% + 0.30 USD per event (min 0.50 USD per event)``."""
    assert price.rate is not None
    text = f"at {quantity_text(price.rate)}%"
    if price.fixed_amount:
        text += f" + {price_text(price.fixed_amount, currency)} {currency} per event"
    limits = [
        f"{label} {price_text(value, currency)} {currency}"
        for label, value in (("min", price.min_per_event), ("max", price.max_per_event))
        if value is not None
    ]
    return f"{text} ({', '.join(limits)} per event)" if limits else text

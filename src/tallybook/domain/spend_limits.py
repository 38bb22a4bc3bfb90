"""Spend limits: a customer's cap on what one billing period may cost (CONTRACT.md Part 2).

A limit is ``amount`` in the customer's currency and a ``mode``:

- ``soft``: reaching it is reported (``spend_limit.reached``), nothing is refused;
- ``hard``: reaching it also refuses every metered entitlement
  (``domain.entitlements``, ``reason: spend_limit_reached``) until the next period (a new
  period total) or a higher limit.

**Reached** when the period total ``>=`` the amount: one cent under does not reach it.
The period total is the upcoming invoice's total as the customer would see it (rounded
lines, fees in full as planned, before credits), computed in one place:
``services.billing.previews.PreviewService.period_total``.

The ``spend_limit.reached`` message is recorded once per (customer, period, limit
amount): reaching the same limit again in one period sends nothing, a raised limit
reached later in the period is a new fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tallybook.domain.errors import ValidationError
from tallybook.domain.money import format_decimal, minor_units, round_amount
from tallybook.domain.webhooks import OutboxMessage, amount, instant

MAX_AMOUNT = Decimal(10) ** 15


class SpendMode(StrEnum):
    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True, slots=True)
class SpendLimit:
    """A customer's limit: ``amount`` (in ``currency``) per billing period."""

    amount: Decimal
    mode: SpendMode
    currency: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SpendHit:
    """A limit reached in one period: the fact ``spend_limit.reached`` reports."""

    customer: str
    period_start: datetime
    period_end: datetime
    limit: Decimal
    mode: SpendMode
    total: Decimal
    currency: str
    at: datetime


def check_amount(value: Decimal, currency: str) -> Decimal:
    """A limit amount: positive, below 10**15, in the currency's minor units.

    Raises ``ValidationError`` ``invalid_amount``.
    """
    if not value.is_finite() or value <= 0 or value >= MAX_AMOUNT:
        raise ValidationError(
            f"amount must be greater than 0 and below {MAX_AMOUNT:,}",
            code="invalid_amount",
            details={"amount": format_decimal(value) if value.is_finite() else str(value)},
        )
    if round_amount(value, currency) != value:
        raise ValidationError(
            f"{format_decimal(value)} has more decimal places than {currency} allows "
            f"({minor_units(currency)})",
            code="invalid_amount",
            details={"amount": format_decimal(value)},
        )
    return value


def reached(total: Decimal, limit: Decimal) -> bool:
    """The period total has reached the limit (``total >= limit``)."""
    return total >= limit


def blocks(limit: SpendLimit | None, total: Decimal | None) -> bool:
    """A hard limit that the period total has reached refuses metered use."""
    if limit is None or total is None or limit.mode is not SpendMode.HARD:
        return False
    return reached(total, limit.amount)


def reached_message(hit: SpendHit) -> OutboxMessage:
    """``spend_limit.reached``: the customer, the limit, the total and the period."""
    data = {
        "customer": hit.customer,
        "limit": amount(hit.limit),
        "mode": hit.mode.value,
        "total": amount(hit.total),
        "currency": hit.currency,
        "period_start": instant(hit.period_start),
        "period_end": instant(hit.period_end),
    }
    return OutboxMessage("spend_limit.reached", hit.at, data, hit.customer)

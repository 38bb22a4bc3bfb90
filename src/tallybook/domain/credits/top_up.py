"""Automatic top-up: buy credits back to a target when ``available`` falls to a threshold (pure).

CONTRACT.md Part 2, "Credits", Top-up: ``PUT /v1/customers/{id}/credit-top-up``
``{"threshold", "target"}``. When the customer's ``available`` (balance minus what its
open period and drafts would draw now) is at or below ``threshold``, one ``paid`` grant
of ``target - available`` is created and billed like any paid grant (its own
``credit_purchase`` invoice); its ledger entry is a ``top_up``. Never a second one while
an earlier top-up's invoice is unpaid (``finalized``, not ``paid`` nor ``void``).

The rule decided here: ``check_rule`` (what a rule may say), ``top_up_amount`` (whether
and how much), ``top_up_grant`` (the grant bought). When to look is the service's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tallybook.domain.credits.ledger import DEFAULT_PRIORITY, AppliesTo, Category, Grant
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import format_decimal, round_amount

SOURCE = "top_up"


@dataclass(frozen=True, slots=True)
class TopUpRule:
    """One customer's top-up rule, amounts in its currency's minor unit."""

    customer: str
    currency: str
    threshold: Decimal
    target: Decimal
    created_at: datetime
    updated_at: datetime


def check_rule(rule: TopUpRule) -> None:
    """Codes: ``invalid_threshold`` (negative, or finer than the currency's minor unit),
    ``invalid_target`` (not above ``threshold``, or finer than the minor unit)."""
    currency = rule.currency
    if rule.threshold < 0 or round_amount(rule.threshold, currency) != rule.threshold:
        raise ValidationError(
            f"threshold must be >= 0 in {currency}'s minor unit", code="invalid_threshold"
        )
    if rule.target <= rule.threshold or round_amount(rule.target, currency) != rule.target:
        raise ValidationError(
            f"target must be above threshold ({format_decimal(rule.threshold)}) in "
            f"{currency}'s minor unit",
            code="invalid_target",
            details={"threshold": format_decimal(rule.threshold)},
        )


def top_up_amount(rule: TopUpRule, available: Decimal) -> Decimal | None:
    """``target - available`` when ``available <= threshold``, else None (nothing to buy)."""
    if available > rule.threshold:
        return None
    return rule.target - max(available, Decimal(0))


def top_up_grant(rule: TopUpRule, grant_id: str, amount: Decimal, now: datetime) -> Grant:
    """The paid grant a top-up buys: ``amount`` from ``now``, never expiring, default
    priority and scope (usage), billed at ``amount``."""
    return Grant(
        id=grant_id,
        customer=rule.customer,
        currency=rule.currency,
        amount=amount,
        category=Category.PAID,
        priority=DEFAULT_PRIORITY,
        effective_at=now,
        expires_at=None,
        applies_to=AppliesTo(),
        created_at=now,
        purchase_price=amount,
        description=f"Automatic top-up to {format_decimal(rule.target)} {rule.currency}",
        source=SOURCE,
    )

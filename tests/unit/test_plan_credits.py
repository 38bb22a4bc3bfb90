"""Plan credits' pure rules: the rollover formula and the first period's wake-up."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tallybook.domain.billing.schedule import next_issue_at
from tallybook.domain.catalog.model import (
    CreditGrantCharge,
    CreditRollover,
    Plan,
    Price,
    PricingModel,
    UsageCharge,
)
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import Phase, PlanRef, Subscription


@pytest.mark.parametrize(
    ("rollover", "remaining", "carried"),
    [
        (CreditRollover(max=Decimal(30)), Decimal(40), Decimal(30)),  # capped
        (CreditRollover(max=Decimal(30)), Decimal(12), Decimal(12)),
        (CreditRollover(max=Decimal(30), min=Decimal(5)), Decimal(0), Decimal(5)),  # floored
        (CreditRollover(min=Decimal(5)), Decimal(400), Decimal(400)),  # no cap
        (CreditRollover(), Decimal(0), Decimal(0)),
    ],
)
def test_rollover_is_min_of_max_and_max_of_min_and_remaining(
    rollover: CreditRollover, remaining: Decimal, carried: Decimal
) -> None:
    assert rollover.carried(remaining) == carried


def _subscription(with_credits: bool) -> tuple[Subscription, dict[PlanRef, Plan]]:
    usage = UsageCharge("u", "m", Price(PricingModel.PER_UNIT, unit_amount=Decimal(1)))
    charges = (usage, CreditGrantCharge("pc", Decimal(10))) if with_credits else (usage,)
    plan = Plan("p", "P", "USD", Interval.MONTH, Anchor.CALENDAR, charges=charges)
    ref = PlanRef("p", 1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    sub = Subscription(
        "s", "c", "USD", start, "UTC", Interval.MONTH, Anchor.CALENDAR, (Phase(ref, start),)
    )
    return sub, {ref: plan}


def test_plan_credits_wake_the_run_at_the_first_period_start_once() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    sub, plans = _subscription(with_credits=True)
    assert next_issue_at(sub, plans, None) == start
    assert next_issue_at(sub, plans, None, after=start) == end  # the run at the start granted
    plain, plain_plans = _subscription(with_credits=False)
    assert next_issue_at(plain, plain_plans, None) == end

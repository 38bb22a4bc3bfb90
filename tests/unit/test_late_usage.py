"""Late usage of an ended subscription (issue 17 item 5), from values only: its
``adjustment`` slots, and which invoice carries the adjustment."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tallybook.domain.billing.accounts import Account, account_drafts
from tallybook.domain.billing.adjustments import Ledger, late_usage_queries, late_window_start
from tallybook.domain.billing.lines import LineType
from tallybook.domain.billing.period_lines import (
    Plans,
    Usage,
    UsageData,
    period_lines,
    usage_queries,
)
from tallybook.domain.billing.schedule import (
    ADJUSTMENT_LOOKBACK,
    SlotKind,
    next_issue_at,
    slots,
    trailing_periods,
)
from tallybook.domain.catalog.model import Plan, Price, PricingModel, UsageCharge
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import CancelMode, Phase, PlanRef, Subscription

D = Decimal
REF = PlanRef("metered", 1)
CALLS = UsageCharge("calls", "calls", Price(PricingModel.PER_UNIT, unit_amount=D("1.00")))
PLANS: Plans = {
    REF: Plan("metered", "Metered", "USD", Interval.MONTH, Anchor.CALENDAR, charges=(CALLS,))
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def subscription(start: str, sid: str = "sub_1") -> Subscription:
    begin = t(start)
    return Subscription(
        sid, "c1", "USD", begin, "UTC", Interval.MONTH, Anchor.CALENDAR, (Phase(REF, begin),)
    )


def cancelled(at: str, mode: CancelMode = CancelMode.IMMEDIATELY) -> Subscription:
    return subscription("2026-06-01").canceled(t(at), mode, t(at))


def calls(sub: Subscription, count: int) -> UsageData:
    """``count`` calls in each of the subscription's periods (what the store would say)."""
    return {
        query: Usage(D(count))
        for period in sub.periods()
        for query in usage_queries(sub, period, PLANS)
    }


def billed(sub: Subscription, count: int) -> Ledger:
    """A ledger saying every period of ``sub`` was billed for ``count`` calls."""
    ledger = Ledger()
    for period in sub.periods():
        ledger.add(sub.id, period.start, period_lines(sub, period, PLANS, calls(sub, count)).usage)
    return ledger


def test_an_ended_subscription_has_adjustment_slots_where_its_next_periods_would_end() -> None:
    ended = cancelled("2026-06-16")
    assert [(p.index, p.start, p.end) for p in trailing_periods(ended)] == [
        (1, t("2026-06-16"), t("2026-07-01")),
        (2, t("2026-07-01"), t("2026-08-01")),
        (3, t("2026-08-01"), t("2026-09-01")),
    ]
    assert len(trailing_periods(ended)) == ADJUSTMENT_LOOKBACK
    at_end = cancelled("2026-06-16", CancelMode.END_OF_PERIOD)
    assert [p.start for p in trailing_periods(at_end)] == [
        t("2026-07-01"),
        t("2026-08-01"),
        t("2026-09-01"),
    ]
    assert trailing_periods(subscription("2026-06-01")) == []  # not ended
    never = subscription("2026-06-01").canceled(
        t("2026-06-01"), CancelMode.IMMEDIATELY, t("2026-06-01")
    )
    assert trailing_periods(never) == []  # never billed: nothing to adjust
    found = slots(ended, PLANS, t("2026-08-01"))
    assert [(s.kind, s.issue_at) for s in found] == [
        (SlotKind.PERIOD, t("2026-06-16")),
        (SlotKind.ADJUSTMENT, t("2026-07-01")),
        (SlotKind.ADJUSTMENT, t("2026-08-01")),
    ]
    assert next_issue_at(ended, PLANS, t("2026-08-01")) == t("2026-09-01")
    assert next_issue_at(ended, PLANS, t("2026-09-01")) is None


def test_late_usage_after_the_last_invoice_gets_an_adjustment_invoice_of_its_own() -> None:
    ended = cancelled("2026-06-16")
    account = Account("c1", "USD", (ended,), {ended.id: t("2026-06-16")})
    drafts = account_drafts(
        account, PLANS, {"c1": calls(ended, 2)}, billed(ended, 1), t("2026-07-01")
    )
    assert len(drafts) == 1
    draft = drafts[0]
    assert (draft.kind, draft.period_start, draft.period_end, draft.issue_at) == (
        SlotKind.ADJUSTMENT,
        t("2026-06-16"),
        t("2026-07-01"),
        t("2026-07-01"),
    )
    assert [(x.type, x.amount, x.period_start, x.period_end) for x in draft.lines] == [
        (LineType.ADJUSTMENT, D("1.00"), t("2026-06-01"), t("2026-06-16"))
    ]
    assert draft.slots == ((ended.id, SlotKind.ADJUSTMENT, t("2026-06-16")),)


def test_no_late_usage_makes_no_adjustment_invoice_and_nothing_is_billed_twice() -> None:
    ended = cancelled("2026-06-16")
    account = Account("c1", "USD", (ended,), {ended.id: t("2026-06-16")})
    usage = {"c1": calls(ended, 1)}
    assert account_drafts(account, PLANS, usage, billed(ended, 1), t("2026-09-01")) == []
    # the adjustment already billed on a final invoice counts as billed
    ledger = billed(ended, 2)
    assert account_drafts(account, PLANS, {"c1": calls(ended, 2)}, ledger, t("2026-08-01")) == []


def test_another_subscriptions_next_invoice_carries_the_late_usage() -> None:
    ended = cancelled("2026-06-16")
    again = subscription("2026-06-20", sid="sub_2")
    account = Account("c1", "USD", (ended, again), {ended.id: t("2026-06-16"), again.id: None})
    first = next(again.periods())
    new_usage = {query: Usage(D(0)) for query in usage_queries(again, first, PLANS)}
    usage = {"c1": {**calls(ended, 2), **new_usage}}
    drafts = account_drafts(account, PLANS, usage, billed(ended, 1), t("2026-07-01"))
    assert [(d.kind, d.period_start) for d in drafts] == [(SlotKind.PERIOD, t("2026-06-20"))]
    lines = drafts[0].lines
    assert [(x.type, x.subscription, x.amount) for x in lines] == [
        (LineType.USAGE, again.id, D("0.00")),
        (LineType.ADJUSTMENT, ended.id, D("1.00")),  # after the carrier's own lines
    ]
    # one slot per invoice row, although two subscriptions' lines are on it
    assert drafts[0].slots == ((again.id, SlotKind.PERIOD, t("2026-06-20")),)


def test_the_window_closes_after_the_look_back() -> None:
    ended = cancelled("2026-06-16", CancelMode.END_OF_PERIOD)  # ends Jul 1, index 0
    assert late_window_start(ended, t("2026-07-01")) == t("2026-06-01")
    assert late_usage_queries(ended, PLANS, t("2026-07-01"))
    assert late_window_start(ended, t("2026-10-01")) is None
    assert late_usage_queries(ended, PLANS, t("2026-10-01")) == []
    assert late_window_start(subscription("2026-06-01"), None) is None
    # the third adjustment slot still looks at the last period (index 0 = n + 3 - 3)
    account = Account("c1", "USD", (ended,), {ended.id: t("2026-09-01")})
    drafts = account_drafts(
        account, PLANS, {"c1": calls(ended, 3)}, billed(ended, 1), t("2026-10-01")
    )
    assert [(d.kind, d.period_start, d.lines[0].amount) for d in drafts] == [
        (SlotKind.ADJUSTMENT, t("2026-09-01"), D("2.00"))
    ]

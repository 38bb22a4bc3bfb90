"""What a subscription owes per period, and account drafts, from values only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tallybook.domain.billing.accounts import Account, account_drafts
from tallybook.domain.billing.adjustments import Ledger, ledger_from_lines
from tallybook.domain.billing.lines import LineType
from tallybook.domain.billing.period_lines import (
    Usage,
    UsageQuery,
    advance_lines,
    period_lines,
    usage_queries,
)
from tallybook.domain.billing.schedule import SlotKind, billed_ahead, next_issue_at, slots
from tallybook.domain.catalog.model import (
    FlatCharge,
    Plan,
    Price,
    PricingModel,
    Timing,
    UsageCharge,
)
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import (
    CancelMode,
    FeeProration,
    Phase,
    PlanRef,
    QuantityChange,
    Subscription,
)

D = Decimal
REF = PlanRef("growth", 1)
API = UsageCharge(
    "api", "api_calls", Price(PricingModel.PER_UNIT, unit_amount=D("0.003")), D(50000)
)
GROWTH = Plan(
    "growth",
    "Growth",
    "USD",
    Interval.MONTH,
    Anchor.CALENDAR,
    charges=(
        FlatCharge("platform", amount=D("200.00"), timing=Timing.IN_ARREARS),
        FlatCharge("seats", unit_amount=D("10.00"), quantity_key="seats", timing=Timing.IN_ADVANCE),
        API,
    ),
)
PLANS = {REF: GROWTH}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def subscription(
    start: str = "2026-01-01", customer: str = "c1", sid: str = "sub_1"
) -> Subscription:
    begin = t(start)
    return Subscription(
        sid,
        customer,
        "USD",
        begin,
        "UTC",
        Interval.MONTH,
        Anchor.CALENDAR,
        (Phase(REF, begin),),
        (QuantityChange(begin, {"seats": D(5)}),),
    )


def usage(sub: Subscription, start: str, end: str, used: int) -> dict[UsageQuery, Usage]:
    return {UsageQuery("api_calls", t(start), t(end)): Usage(D(used))}


def test_the_hybrid_example_410() -> None:
    sub = subscription()
    period = next(sub.periods())
    lines = period_lines(sub, period, PLANS, usage(sub, "2026-01-01", "2026-02-01", 120000))
    assert [(x.charge, x.amount) for x in lines.at_close] == [
        ("platform", D("200.00")),
        ("api", D("210.00")),
    ]
    assert [(x.charge, x.amount, x.period_start) for x in lines.advance] == [
        ("seats", D("50.00"), t("2026-01-01"))
    ]


def test_slots_open_with_in_advance_fees_then_follow_periods() -> None:
    sub = subscription("2026-01-15")
    found = slots(sub, PLANS, t("2026-03-01"))
    assert [(s.kind, s.period.start, s.issue_at) for s in found] == [
        (SlotKind.OPENING, t("2026-01-15"), t("2026-01-15")),
        (SlotKind.PERIOD, t("2026-01-15"), t("2026-02-01")),
        (SlotKind.PERIOD, t("2026-02-01"), t("2026-03-01")),
    ]
    assert next_issue_at(sub, PLANS, None) == t("2026-01-15")
    assert next_issue_at(sub, PLANS, t("2026-01-15")) == t("2026-02-01")
    ended = sub.canceled(t("2026-02-10"), CancelMode.IMMEDIATELY, t("2026-02-10"))
    # after the end: the adjustment slots that look for late usage, then nothing
    assert next_issue_at(ended, PLANS, t("2026-02-10")) == t("2026-03-01")
    assert next_issue_at(ended, PLANS, t("2026-04-01")) == t("2026-05-01")
    assert next_issue_at(ended, PLANS, t("2026-05-01")) is None


def test_billed_ahead_is_true_only_where_in_advance_fees_were_billed() -> None:
    sub = subscription("2026-01-15")
    assert billed_ahead(sub, PLANS, t("2026-02-01"))  # seats in advance for February
    assert billed_ahead(sub, PLANS, t("2026-01-15"))  # the opening invoice
    assert not billed_ahead(sub, PLANS, None)
    assert not billed_ahead(sub, PLANS, t("2026-02-10"))  # not a boundary
    arrears = Plan("late", "Late", "USD", Interval.MONTH, Anchor.CALENDAR, charges=(API,))
    plain = Subscription(
        "sub_2",
        "c1",
        "USD",
        t("2026-01-01"),
        "UTC",
        Interval.MONTH,
        Anchor.CALENDAR,
        (Phase(PlanRef("late", 1), t("2026-01-01")),),
    )
    assert not billed_ahead(plain, {PlanRef("late", 1): arrears}, t("2026-02-01"))


def test_a_seat_change_bills_the_difference_for_the_rest_of_the_period() -> None:
    sub = subscription("2026-04-01").with_quantities(
        t("2026-04-16"), {"seats": D(9)}, FeeProration.PRORATE
    )
    period = next(sub.periods())
    lines = period_lines(sub, period, PLANS, {})
    seat = [x for x in lines.changes if x.charge == "seats"]
    assert [(x.type, x.quantity, x.amount) for x in seat] == [
        (LineType.PRORATION, D(4), D("20.00"))
    ]
    nxt = sub.next_period(period)
    assert nxt is not None
    assert advance_lines(sub, nxt, PLANS)[0].amount == D("90.00")


def test_an_immediate_cancellation_credits_unused_in_advance_time() -> None:
    sub = subscription("2026-04-01").canceled(
        t("2026-04-11"), CancelMode.IMMEDIATELY, t("2026-04-11")
    )
    period = next(sub.periods())
    lines = period_lines(sub, period, PLANS, {})
    credit = [x for x in lines.changes if x.amount < 0]
    assert [(x.charge, x.amount, x.period_start) for x in credit] == [
        ("seats", D("-33.33"), t("2026-04-11"))
    ]
    platform = [x for x in lines.arrears if x.charge == "platform"]
    assert platform[0].amount == D("66.67")  # 200.00 x 10/30
    assert sub.next_period(period) is None


def test_the_minimum_spend_is_trued_up() -> None:
    plan = Plan(
        "m", "M", "USD", Interval.MONTH, Anchor.CALENDAR, minimum_spend=D(300), charges=(API,)
    )
    ref = PlanRef("m", 1)
    sub = Subscription(
        "s",
        "c",
        "USD",
        t("2026-04-01"),
        "UTC",
        Interval.MONTH,
        Anchor.CALENDAR,
        (Phase(ref, t("2026-04-01")),),
    )
    period = next(sub.periods())
    lines = period_lines(sub, period, {ref: plan}, usage(sub, "2026-04-01", "2026-05-01", 60000))
    assert lines.true_up is not None
    assert (lines.true_up.type, lines.true_up.amount) == (LineType.TRUE_UP, D("270.00"))


def test_usage_queries_follow_the_usage_spans() -> None:
    sub = subscription()
    assert usage_queries(sub, next(sub.periods()), PLANS) == [
        UsageQuery("api_calls", t("2026-01-01"), t("2026-02-01"))
    ]


def test_a_child_is_on_its_parent_invoice_after_the_parent() -> None:
    parent, child = (
        subscription(customer="acme", sid="sub_p"),
        subscription(customer="acme-eu", sid="sub_c"),
    )
    account = Account("acme", "USD", (child, parent), {})
    data = {
        "acme": usage(parent, "2026-01-01", "2026-02-01", 0),
        "acme-eu": usage(child, "2026-01-01", "2026-02-01", 60000),
    }
    drafts = account_drafts(account, PLANS, data, Ledger(), t("2026-02-01"))
    assert [(d.kind, d.customer) for d in drafts] == [
        (SlotKind.OPENING, "acme"),
        (SlotKind.PERIOD, "acme"),
    ]
    closing = drafts[1]
    owners = [line.customer for line in closing.lines]
    assert owners == sorted(owners, key=lambda c: c != "acme")
    assert closing.totals.total == D("200.00") + D("50.00") + D("200.00") + D("30.00") + D("50.00")
    assert {key[0] for key in closing.slots} == {"sub_p", "sub_c"}


def test_final_slots_are_skipped_and_late_usage_is_adjusted_once() -> None:
    sub = subscription("2026-01-01")
    jan = usage(sub, "2026-01-01", "2026-02-01", 60000)  # 10,000 billable -> 30.00 billed
    first = account_drafts(
        Account("c1", "USD", (sub,), {}), PLANS, {"c1": jan}, Ledger(), t("2026-02-01")
    )
    billed = [line for draft in first for line in draft.lines]
    later = {**jan, **usage(sub, "2026-02-01", "2026-03-01", 0)}
    later[UsageQuery("api_calls", t("2026-01-01"), t("2026-02-01"))] = Usage(
        D(70000)
    )  # +10,000 late
    account = Account("c1", "USD", (sub,), {"sub_1": t("2026-02-01")})
    drafts = account_drafts(
        account, PLANS, {"c1": later}, ledger_from_lines([sub], billed), t("2026-03-01")
    )
    assert [(d.kind, d.period_start) for d in drafts] == [(SlotKind.PERIOD, t("2026-02-01"))]
    adjustments = [line for line in drafts[0].lines if line.type is LineType.ADJUSTMENT]
    assert [(x.charge, x.quantity, x.amount, x.period_start) for x in adjustments] == [
        ("api", D(10000), D("30.00"), t("2026-01-01"))
    ]

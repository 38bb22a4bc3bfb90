"""Splitting periods at changes; allowance scales under prorate, retroactive, cutover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.billing.proration import (
    advance_changes,
    fee_spans,
    fraction_label,
    parts,
    scale_allowance,
    usage_spans,
)
from tallybook.domain.periods import Anchor, Interval, Period
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    BillingPeriod,
    FeeProration,
    Phase,
    PlanRef,
    Subscription,
)

A, B, C = PlanRef("a", 1), PlanRef("b", 1), PlanRef("c", 1)
APRIL = Period(datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
HALF = Decimal("0.5")


def day(n: int) -> datetime:
    return datetime(2026, 4, n, tzinfo=UTC)


def changed(*changes: tuple[PlanRef, int, AllowancePolicy, FeeProration]) -> Subscription:
    phases = [Phase(A, day(1))] + [Phase(ref, day(d), pol, fee) for ref, d, pol, fee in changes]
    return Subscription(
        "s", "c", "USD", day(1), "UTC", Interval.MONTH, Anchor.CALENDAR, tuple(phases)
    )


def april(sub: Subscription) -> BillingPeriod:
    return next(sub.periods())


def spans(sub: Subscription) -> list[tuple[PlanRef, datetime, datetime, Decimal]]:
    return [
        (s.phase.plan, s.start, s.end, s.scale) for s in usage_spans(parts(sub, april(sub)), APRIL)
    ]


def test_prorate_scales_each_part_by_its_share_of_time() -> None:
    sub = changed((B, 16, AllowancePolicy.PRORATE, FeeProration.PRORATE))
    assert spans(sub) == [(A, day(1), day(16), HALF), (B, day(16), APRIL.end, HALF)]


def test_cutover_gives_each_part_its_full_allowance() -> None:
    sub = changed((B, 16, AllowancePolicy.CUTOVER, FeeProration.PRORATE))
    assert spans(sub) == [(A, day(1), day(16), 1), (B, day(16), APRIL.end, 1)]


def test_retroactive_rates_the_whole_period_on_the_new_plan() -> None:
    sub = changed((B, 16, AllowancePolicy.RETROACTIVE, FeeProration.PRORATE))
    assert spans(sub) == [(B, day(1), APRIL.end, 1)]


def test_policies_combine_across_several_changes() -> None:
    sub = changed(
        (B, 7, AllowancePolicy.RETROACTIVE, FeeProration.PRORATE),
        (C, 16, AllowancePolicy.PRORATE, FeeProration.PRORATE),
    )
    assert spans(sub) == [(B, day(1), day(16), HALF), (C, day(16), APRIL.end, HALF)]


def test_a_partial_period_scales_by_its_share() -> None:
    sub = Subscription(
        "s", "c", "USD", day(16), "UTC", Interval.MONTH, Anchor.CALENDAR, (Phase(A, day(16)),)
    )
    period = april(sub)
    assert [(s.start, s.scale) for s in usage_spans(parts(sub, period), period.full)] == [
        (day(16), HALF)
    ]


def test_fee_proration_none_folds_the_part_before_into_the_new_plan() -> None:
    sub = changed((B, 16, AllowancePolicy.PRORATE, FeeProration.NONE))
    folded = fee_spans(parts(sub, april(sub)))
    assert [(p.phase.plan, p.start, p.end) for p in folded] == [(B, day(1), APRIL.end)]
    assert advance_changes(parts(sub, april(sub))) == []


def test_advance_changes_pair_each_prorated_change_with_what_was_billed() -> None:
    sub = changed(
        (B, 10, AllowancePolicy.PRORATE, FeeProration.NONE),
        (C, 20, AllowancePolicy.PRORATE, FeeProration.PRORATE),
    )
    pairs = advance_changes(parts(sub, april(sub)))
    assert [(before.phase.plan, after.phase.plan, after.start) for before, after in pairs] == [
        (A, C, day(20))  # B was never billed (unprorated), so A is credited
    ]


def test_scaled_allowances_keep_six_places() -> None:
    assert scale_allowance(Decimal(50000), Decimal(17) / Decimal(31)) == Decimal("27419.354839")
    assert scale_allowance(Decimal(1000), HALF) == Decimal(500)
    assert scale_allowance(Decimal(0), HALF) == 0


def test_fraction_labels_count_days_when_whole() -> None:
    assert fraction_label(day(16), APRIL.end, APRIL) == "15/30 days"
    assert fraction_label(day(16) + timedelta(hours=12), APRIL.end, APRIL) == "48.33%"


@given(st.lists(st.integers(min_value=2, max_value=30), min_size=1, max_size=4, unique=True))
def test_prorated_spans_share_the_whole_period(days: list[int]) -> None:
    plans = [PlanRef(f"p{n}", 1) for n in range(len(days))]
    sub = changed(
        *[
            (ref, d, AllowancePolicy.PRORATE, FeeProration.PRORATE)
            for ref, d in zip(plans, sorted(days), strict=True)
        ]
    )
    found = usage_spans(parts(sub, april(sub)), APRIL)
    # fractions keep 28 significant digits: the shares add up to 1 within that precision
    assert abs(sum((s.scale for s in found), Decimal(0)) - 1) < Decimal("1e-26")
    assert found[0].start == APRIL.start and found[-1].end == APRIL.end

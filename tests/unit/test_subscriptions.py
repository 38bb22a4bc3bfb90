"""Subscriptions as values: periods, trials, changes and cancellation (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice, pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.errors import Conflict, ValidationError
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    CancelMode,
    Discount,
    DiscountKind,
    FeeProration,
    Phase,
    PlanRef,
    QuantityChange,
    Status,
    Subscription,
    check_not_billed,
    trial_end,
)

BASIC, PRO = PlanRef("basic", 1), PlanRef("pro", 1)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sub(
    start: str = "2026-01-15",
    *,
    anchor: Anchor = Anchor.CALENDAR,
    interval: Interval = Interval.MONTH,
    tz: str = "UTC",
    trial: datetime | None = None,
) -> Subscription:
    begin = t(start)
    return Subscription(
        id="sub_1",
        customer="c1",
        currency="USD",
        start=begin,
        timezone=tz,
        interval=interval,
        anchor=anchor,
        phases=(Phase(BASIC, begin),),
        quantities=(QuantityChange(begin, {"seats": Decimal(5)}),),
        trial_end=trial,
    )


def test_a_calendar_start_mid_month_gives_a_partial_first_period() -> None:
    first, second = islice(sub().periods(), 2)
    assert (first.start, first.end) == (t("2026-01-15"), t("2026-02-01"))
    assert (first.full.start, first.full.end) == (t("2026-01-01"), t("2026-02-01"))
    assert first.fraction == Decimal(17) / Decimal(31)
    assert (second.start, second.end, second.fraction) == (t("2026-02-01"), t("2026-03-01"), 1)


def test_an_anniversary_on_the_31st_clamps_and_returns() -> None:
    periods = list(islice(sub("2026-01-31", anchor=Anchor.SUBSCRIPTION).periods(), 4))
    assert [p.end for p in periods] == [
        t("2026-02-28"),
        t("2026-03-31"),
        t("2026-04-30"),
        t("2026-05-31"),
    ]
    assert all(p.fraction == 1 for p in periods)


def test_a_trial_moves_billing_to_its_end_in_local_days() -> None:
    start = t("2026-03-19T23:00")  # Mar 20 00:00 in Paris; DST starts there on Mar 29
    end = trial_end(start, 14, "Europe/Paris")
    assert end == t("2026-04-02T22:00")  # Apr 3 00:00 local: 14 local days are 335 hours
    assert end - start == timedelta(hours=335)
    assert trial_end(start, 0, "UTC") is None
    trialing = sub("2026-03-01", anchor=Anchor.SUBSCRIPTION, trial=t("2026-03-15"))
    assert next(trialing.periods()).start == t("2026-03-15")
    assert trialing.status(t("2026-03-10")) is Status.TRIALING
    assert trialing.period_at(t("2026-03-10")) is None


def test_an_end_truncates_its_period_and_nothing_follows() -> None:
    ended = sub("2026-01-01").canceled(t("2026-02-10"), CancelMode.IMMEDIATELY, t("2026-02-10"))
    periods = list(ended.periods())
    assert [(p.start, p.end) for p in periods] == [
        (t("2026-01-01"), t("2026-02-01")),
        (t("2026-02-01"), t("2026-02-10")),
    ]
    assert periods[-1].full.end == t("2026-03-01")
    on_edge = sub("2026-01-01").canceled(t("2026-02-01"), CancelMode.IMMEDIATELY, t("2026-02-01"))
    assert len(list(on_edge.periods())) == 1


def test_cancel_at_period_end_ends_with_the_period_holding_the_request() -> None:
    ending = sub("2026-01-01").canceled(t("2026-02-10"), CancelMode.END_OF_PERIOD, t("2026-02-10"))
    assert ending.end == t("2026-03-01")
    assert ending.status(t("2026-02-20")) is Status.ENDING
    assert ending.status(t("2026-03-01")) is Status.ENDED
    with pytest.raises(Conflict):
        ending.canceled(t("2026-03-05"), CancelMode.IMMEDIATELY, t("2026-03-05"))
    trialing = sub("2026-03-01", trial=t("2026-03-15"))
    assert trialing.canceled(t("2026-03-05"), CancelMode.END_OF_PERIOD, t("2026-03-05")).end == t(
        "2026-03-15"
    )


def test_a_plan_change_replaces_later_scheduled_changes() -> None:
    changed = sub().with_plan(PRO, t("2026-03-01"), AllowancePolicy.CUTOVER, FeeProration.NONE)
    earlier = changed.with_plan(PRO, t("2026-02-10"), AllowancePolicy.PRORATE, FeeProration.PRORATE)
    assert [p.start for p in earlier.phases] == [t("2026-01-15"), t("2026-02-10")]
    assert earlier.phase_at(t("2026-02-09")).plan == BASIC
    assert earlier.phase_at(t("2026-02-10")).allowance_policy is AllowancePolicy.PRORATE
    with pytest.raises(Conflict) as already:
        sub().with_plan(BASIC, t("2026-02-01"), AllowancePolicy.PRORATE, FeeProration.PRORATE)
    assert already.value.code == "already_on_plan"
    with pytest.raises(ValidationError) as early:
        sub().with_plan(PRO, t("2026-01-01"), AllowancePolicy.PRORATE, FeeProration.PRORATE)
    assert early.value.code == "invalid_change_time"


def test_quantities_merge_over_what_is_in_force() -> None:
    changed = sub().with_quantities(t("2026-02-01"), {"admins": Decimal(2)}, FeeProration.PRORATE)
    assert changed.quantities_at(t("2026-02-02")) == {"seats": 5, "admins": 2}
    assert changed.quantities_at(t("2026-01-20")) == {"seats": 5}


def test_changes_at_or_before_a_final_boundary_are_refused() -> None:
    check_not_billed(t("2026-02-01T00:00:01"), t("2026-02-01"))
    with pytest.raises(Conflict) as refused:
        check_not_billed(t("2026-02-01"), t("2026-02-01"))
    assert refused.value.code == "period_finalized"


def test_a_change_at_exactly_the_billed_boundary_is_outside_the_billed_period() -> None:
    # [start, end): the final invoice at Feb 1 closed January; a change at Feb 1 alters it
    # only if that invoice also billed February ahead (in-advance fees)
    check_not_billed(t("2026-02-01"), t("2026-02-01"), billed_ahead=False)
    check_not_billed(t("2026-02-01"), None, billed_ahead=True)
    for at in (t("2026-01-31T23:59:59.999999"), t("2026-01-15")):
        with pytest.raises(Conflict):
            check_not_billed(at, t("2026-02-01"), billed_ahead=False)
    with pytest.raises(Conflict):
        check_not_billed(t("2026-02-01"), t("2026-02-01"), billed_ahead=True)


YEARLY = (Interval.YEAR, Anchor.CALENDAR)


def test_an_interval_change_ends_the_period_and_starts_the_new_cycle_at_the_change() -> None:
    changed = sub("2026-01-01").with_plan(
        PRO, t("2026-03-16"), AllowancePolicy.PRORATE, FeeProration.PRORATE, YEARLY
    )
    got = [
        (p.index, p.start, p.end, p.full.start, p.full.end) for p in islice(changed.periods(), 5)
    ]
    assert got == [
        (0, t("2026-01-01"), t("2026-02-01"), t("2026-01-01"), t("2026-02-01")),
        (1, t("2026-02-01"), t("2026-03-01"), t("2026-02-01"), t("2026-03-01")),
        (2, t("2026-03-01"), t("2026-03-16"), t("2026-03-01"), t("2026-04-01")),
        (3, t("2026-03-16"), t("2027-01-01"), t("2026-01-01"), t("2027-01-01")),
        (4, t("2027-01-01"), t("2028-01-01"), t("2027-01-01"), t("2028-01-01")),
    ]
    periods = list(islice(changed.periods(), 4))
    assert periods[2].fraction == Decimal(15) / Decimal(31)
    assert periods[3].fraction == Decimal(291) / Decimal(365)
    assert changed.cycle_at(t("2026-03-15")) == (Interval.MONTH, Anchor.CALENDAR)
    assert changed.cycle_at(t("2026-03-16")) == YEARLY
    assert changed.changes_cycle_at(t("2026-03-16"))
    assert not changed.changes_cycle_at(t("2026-03-01"))
    assert changed.period_at(t("2026-06-01")) == periods[3]


def test_an_anniversary_plan_restarts_its_anchor_at_the_change() -> None:
    monthly = sub("2026-01-10", anchor=Anchor.SUBSCRIPTION)
    changed = monthly.with_plan(
        PRO,
        t("2026-03-25"),
        AllowancePolicy.PRORATE,
        FeeProration.PRORATE,
        (Interval.YEAR, Anchor.SUBSCRIPTION),
    )
    got = [(p.start, p.end, p.full.end) for p in islice(changed.periods(), 5)][2:]
    assert got == [
        (t("2026-03-10"), t("2026-03-25"), t("2026-04-10")),
        (t("2026-03-25"), t("2027-03-25"), t("2027-03-25")),
        (t("2027-03-25"), t("2028-03-25"), t("2028-03-25")),
    ]


def test_a_plan_change_drops_later_cycle_changes_and_same_cycle_adds_none() -> None:
    base = sub("2026-01-01")
    yearly = base.with_plan(
        PRO, t("2026-05-01"), AllowancePolicy.PRORATE, FeeProration.PRORATE, YEARLY
    )
    back = yearly.with_plan(
        PlanRef("team", 1),
        t("2026-04-15"),
        AllowancePolicy.PRORATE,
        FeeProration.PRORATE,
        (Interval.MONTH, Anchor.CALENDAR),
    )
    assert back.cycles == ()
    assert [p.end for p in islice(back.periods(), 6)][3:] == [
        t("2026-05-01"),
        t("2026-06-01"),
        t("2026-07-01"),
    ]
    # a cycle change before billing starts (in a trial) is the subscription's own cycle
    trialing = sub("2026-01-01", trial=t("2026-01-15")).with_plan(
        PRO, t("2026-01-05"), AllowancePolicy.PRORATE, FeeProration.PRORATE, YEARLY
    )
    assert (trialing.cycles, trialing.interval) == ((), Interval.YEAR)
    assert next(trialing.periods()).end == t("2027-01-01")


def test_a_cancellation_after_a_cycle_change_ends_the_new_cycle() -> None:
    changed = sub("2026-01-01").with_plan(
        PRO, t("2026-03-16"), AllowancePolicy.PRORATE, FeeProration.PRORATE, YEARLY
    )
    ended = changed.canceled(t("2026-06-01"), CancelMode.END_OF_PERIOD, t("2026-06-01"))
    assert ended.end == t("2027-01-01")
    now = changed.canceled(t("2026-06-01"), CancelMode.IMMEDIATELY, t("2026-06-01"))
    assert [(p.start, p.end) for p in now.periods()][-2:] == [
        (t("2026-03-01"), t("2026-03-16")),
        (t("2026-03-16"), t("2026-06-01")),
    ]


def test_a_discount_covers_its_periods_from_its_start() -> None:
    s = sub("2026-01-01")
    later = Discount("d", DiscountKind.PERCENT, Decimal(10), t("2026-03-05"), periods=2)
    first = s.discount_first_index(later)
    assert first == 2
    assert [later.covers(first, i) for i in range(5)] == [False, False, True, True, False]
    forever = Discount("f", DiscountKind.FIXED, Decimal(5), t("2025-01-01"))
    assert s.discount_first_index(forever) == 0 and forever.covers(0, 999)


@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    length=st.integers(min_value=1, max_value=900 * 24),
    anchor=st.sampled_from(list(Anchor)),
    interval=st.sampled_from([Interval.WEEK, Interval.MONTH, Interval.QUARTER]),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles", "Australia/Lord_Howe"]),
)
def test_periods_tile_the_subscription_without_gap_or_overlap(
    start: datetime, length: int, anchor: Anchor, interval: Interval, tz: str
) -> None:
    begin = start.replace(tzinfo=UTC)
    s = Subscription(
        "s",
        "c",
        "USD",
        begin,
        tz,
        interval,
        anchor,
        (Phase(BASIC, begin),),
        end=begin + timedelta(hours=length),
    )
    periods = list(s.periods())
    assert periods[0].start == begin and periods[-1].end == s.end
    for before, after in pairwise(periods):
        assert before.end == after.start
    for period in periods:
        assert period.full.start <= period.start < period.end <= period.full.end
        assert 0 < period.fraction <= 1


@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    change_after=st.integers(min_value=1, max_value=400 * 24),
    length=st.integers(min_value=1, max_value=900 * 24),
    cycles=st.lists(
        st.tuples(
            st.sampled_from([Interval.WEEK, Interval.MONTH, Interval.QUARTER, Interval.YEAR]),
            st.sampled_from(list(Anchor)),
        ),
        min_size=2,
        max_size=2,
    ),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles"]),
)
def test_periods_tile_across_a_cycle_change(
    start: datetime,
    change_after: int,
    length: int,
    cycles: list[tuple[Interval, Anchor]],
    tz: str,
) -> None:
    begin = start.replace(tzinfo=UTC)
    (interval, anchor), new_cycle = cycles
    at = begin + timedelta(hours=change_after)
    s = Subscription(
        "s", "c", "USD", begin, tz, interval, anchor, (Phase(BASIC, begin),)
    ).with_plan(PRO, at, AllowancePolicy.PRORATE, FeeProration.PRORATE, new_cycle)
    s = replace(s, end=at + timedelta(hours=length))
    periods = list(s.periods())
    assert periods[0].start == begin and periods[-1].end == s.end
    assert [p.index for p in periods] == list(range(len(periods)))
    for before, after in pairwise(periods):
        assert before.end == after.start
    if new_cycle != (interval, anchor):
        assert any(p.end == at for p in periods)  # the period holding the change ends there
    for period in periods:
        assert period.full.start <= period.start < period.end <= period.full.end
        assert 0 < period.fraction <= 1
        assert s.period_at(period.start) == period

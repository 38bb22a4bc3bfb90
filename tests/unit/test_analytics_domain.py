"""Pure analytics rules: percentile_cont, months, committed MRR, movements, retention,
LTV, forecasts and the experiment hash (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.analytics.experiments import Arm, assign, bucket
from tallybook.domain.analytics.months import Month, month_range
from tallybook.domain.analytics.mrr import CustomerMonth, classify, committed_mrr
from tallybook.domain.analytics.retention import CohortMember, forecast, ltv, retention
from tallybook.domain.analytics.stats import mean, percentile_cont
from tallybook.domain.catalog.model import FlatCharge, Plan, Timing
from tallybook.domain.errors import ValidationError
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import (
    Discount,
    DiscountKind,
    Phase,
    PlanRef,
    QuantityChange,
    Subscription,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_percentile_cont_matches_postgres_linear_rule() -> None:
    # PostgreSQL: SELECT percentile_cont(ARRAY[0,.25,.5,.9,1]) WITHIN GROUP (ORDER BY x)
    # FROM unnest('{3,1,4,1,5,9,2,6}'::int[]) x;  -> {1,1.75,3.5,6.9,9}
    values = [D(v) for v in (3, 1, 4, 1, 5, 9, 2, 6)]
    got = [percentile_cont(values, D(p)) for p in (0, 25, 50, 90, 100)]
    assert got == [D(1), D("1.75"), D("3.5"), D("6.9"), D(9)]
    assert percentile_cont([D(7)], D(90)) == D(7)
    assert percentile_cont([], D(50)) is None
    assert mean([D(1), D(2)]) == D("1.5") and mean([]) is None
    with pytest.raises(ValidationError) as raised:
        percentile_cont(values, D(101))
    assert raised.value.code == "invalid_percentile"


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
)
def test_percentiles_are_bounded_and_monotone(values: list[int], p: int, q: int) -> None:
    data = [D(v) for v in values]
    low, high = sorted((p, q))
    a, b = percentile_cont(data, D(low)), percentile_cont(data, D(high))
    assert a is not None and b is not None
    assert min(data) <= a <= b <= max(data)


def test_months() -> None:
    assert Month.parse("2026-12").next() == Month(2027, 1)
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2026, 11).plus(3) == Month(2027, 2) and Month(2026, 2).plus(-2) == Month(2025, 12)
    assert Month.of(datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == Month(2026, 3)
    assert Month(2026, 2).snapshot == datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)
    assert len(month_range(Month(2026, 1), Month(2026, 12))) == 12
    for text in ("2026-13", "2026-1", "26-01", ""):
        with pytest.raises(ValidationError) as raised:
            Month.parse(text)
        assert raised.value.code == "invalid_month"
    with pytest.raises(ValidationError) as raised:
        month_range(Month(2026, 2), Month(2026, 1))
    assert raised.value.code == "invalid_window"


def _sub(interval: Interval, **extra: object) -> Subscription:
    return Subscription(
        id="s",
        customer="c",
        currency="USD",
        start=T0,
        timezone="UTC",
        interval=interval,
        anchor=Anchor.CALENDAR,
        phases=(Phase(PlanRef("p", 1), T0),),
        quantities=(QuantityChange(T0, {"seats": D(3)}),),
        **extra,  # type: ignore[arg-type]
    )


def _plans(interval: Interval) -> dict[PlanRef, Plan]:
    charges = (
        FlatCharge("base", amount=D("120.00"), timing=Timing.IN_ADVANCE),
        FlatCharge("seats", unit_amount=D("10.00"), quantity_key="seats"),
    )
    return {PlanRef("p", 1): Plan("p", "P", "USD", interval, Anchor.CALENDAR, charges=charges)}


@pytest.mark.parametrize(
    ("interval", "expected"),
    [
        (Interval.MONTH, "150.00"),  # 120 + 3 x 10
        (Interval.QUARTER, "50.00"),  # 150 / 3
        (Interval.YEAR, "12.50"),  # 150 / 12
        (Interval.WEEK, "650.00"),  # 150 x 52 / 12
    ],
)
def test_committed_mrr_normalises_to_a_month(interval: Interval, expected: str) -> None:
    at = datetime(2026, 6, 15, tzinfo=UTC)
    assert committed_mrr(_sub(interval), _plans(interval), at) == D(expected)


def test_committed_mrr_discounts_trials_and_ends() -> None:
    plans = _plans(Interval.MONTH)
    at = datetime(2026, 6, 15, tzinfo=UTC)
    recurring = Discount("d", DiscountKind.PERCENT, D(20), T0)
    once = Discount("o", DiscountKind.FIXED, D(50), T0, periods=1)
    fixed = Discount("f", DiscountKind.FIXED, D(30), T0, periods=12)
    assert committed_mrr(_sub(Interval.MONTH, discounts=(recurring,)), plans, at) == D("120.00")
    assert committed_mrr(_sub(Interval.MONTH, discounts=(once,)), plans, T0) == D("150.00")
    assert committed_mrr(_sub(Interval.MONTH, discounts=(fixed,)), plans, at) == D("120.00")
    trial = _sub(Interval.MONTH, trial_end=datetime(2026, 7, 1, tzinfo=UTC))
    assert committed_mrr(trial, plans, at) == D("0.00")
    ended = _sub(Interval.MONTH, end=datetime(2026, 6, 1, tzinfo=UTC))
    assert committed_mrr(ended, plans, at) == D("0.00")


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (CustomerMonth(D(100), D(300), True, True, True), ("expansion", D(200))),
        (CustomerMonth(D(300), D(100), True, True, True), ("contraction", D(-200))),
        (CustomerMonth(D(100), D(0), True, False, True), ("churn", D(-100))),
        (CustomerMonth(D(100), D(0), True, True, True), ("contraction", D(-100))),
        (CustomerMonth(D(0), D(50), True, True, False), ("new", D(50))),
        (CustomerMonth(D(0), D(50), False, True, True), ("reactivation", D(50))),
        (CustomerMonth(D(0), D(50), True, True, True), ("expansion", D(50))),
        (CustomerMonth(D(70), D(70), True, True, True), None),
    ],
)
def test_movements(month: CustomerMonth, expected: object) -> None:
    assert classify(month) == expected


def test_retention_ltv_and_forecast() -> None:
    cohort = [
        CohortMember(D(100), D(300), True),
        CohortMember(D(300), D(100), True),
        CohortMember(D(100), D(0), False),
        CohortMember(D(100), D(100), True),
    ]
    r = retention(cohort)
    assert (r.nrr, r.grr, r.logo_churn) == (D("83.33"), D("50.00"), D("25.00"))
    assert (r.gross_revenue_churn, r.net_revenue_churn) == (D("50.00"), D("16.67"))
    assert retention([]).nrr is None
    value = ltv(D(500), 3, 1, 4, D("0.8"), "USD", spend=D(1000), new_customers=4)
    assert (value.arpa, value.logo_churn, value.ltv) == (D("166.67"), D("25.00"), D("533.34"))
    assert (value.cac, value.ltv_to_cac) == (D("250.00"), D("2.13"))
    history = [D(100), D(130), D(160)]
    assert forecast(history, 2, "mean", "USD") == [D("130.00"), D("130.00")]
    assert forecast(history, 2, "trend", "USD") == [D("190.00"), D("220.00")]
    assert forecast([D(90), D(60), D(30)], 2, "trend", "USD") == [D("0.00"), D("0.00")]


def test_experiment_hash_is_the_contracts() -> None:
    # int(sha256("price:c00").hexdigest()[:8], 16) % 10000, computed once and pinned
    assert (bucket("price", "c00"), bucket("price", "c01")) == (4201, 8719)
    assert assign("price", "c00", D("0.5")) is Arm.TREATMENT  # 4201 < 5000
    assert assign("price", "c00", D("0.42")) is Arm.CONTROL  # 4201 >= 4200
    assert assign("price", "c01", D("0.8719")) is Arm.CONTROL
    assert assign("price", "c01", D("0.872")) is Arm.TREATMENT
    with pytest.raises(ValidationError) as raised:
        assign("price", "c00", D("1.01"))
    assert raised.value.code == "invalid_share"

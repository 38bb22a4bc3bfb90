"""Allowance rollover from values only: the carry rule, the chain, the lines it changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.billing.period_lines import Usage, UsageQuery, period_lines, usage_queries
from tallybook.domain.billing.rollover import carry_out
from tallybook.domain.catalog.model import (
    AllowanceRollover,
    Plan,
    Price,
    PricingModel,
    UsageCharge,
)
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import (
    AllowancePolicy,
    Phase,
    PlanRef,
    Subscription,
)

D = Decimal
BASIC, PRO = PlanRef("basic", 1), PlanRef("pro", 1)
PRICE = Price(PricingModel.PER_UNIT, unit_amount=D("0.01"))


def charge(included: int, cap: int | None) -> UsageCharge:
    rollover = None if cap is None else AllowanceRollover(D(cap))
    return UsageCharge("api", "calls", PRICE, D(included), rollover=rollover)


def plan(key: str, included: int, cap: int | None) -> Plan:
    return Plan(key, key, "USD", Interval.MONTH, Anchor.CALENDAR, charges=(charge(included, cap),))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def subscription(*phases: Phase) -> Subscription:
    return Subscription(
        "sub_1", "c1", "USD", phases[0].start, "UTC", Interval.MONTH, Anchor.CALENDAR, phases
    )


MONTHS = [t(f"2026-{m:02d}-01") for m in range(1, 13)] + [t("2027-01-01")]


def usage_of(amounts: list[int]) -> dict[UsageQuery, Usage]:
    return {
        UsageQuery("calls", MONTHS[i], MONTHS[i + 1]): Usage(D(n)) for i, n in enumerate(amounts)
    }


def usage_line(sub: Subscription, plans: dict[PlanRef, Plan], index: int, usage: dict):  # type: ignore[no-untyped-def,type-arg]
    period = next(p for p in sub.periods() if p.index == index)
    (line,) = period_lines(sub, period, plans, usage).usage
    return line


@pytest.mark.parametrize(
    ("own", "carried", "used", "cap", "expected"),
    [
        (1000, 0, 200, 5000, 800),  # unused own allowance
        (1000, 0, 200, 500, 500),  # capped
        (1000, 300, 300, 5000, 1000),  # the carried units went first: own untouched
        (1000, 300, 700, 5000, 600),  # 400 of the own allowance used
        (1000, 300, 1300, 5000, 0),  # everything used
        (1000, 300, 9000, 5000, 0),  # never negative
        (1000, 0, 0, 5000, 1000),  # at most the own allowance: carried units never carry on
    ],
)
def test_carry_out(own: int, carried: int, used: int, cap: int, expected: int) -> None:
    assert carry_out(D(own), D(carried), D(used), D(cap)) == D(expected)


def test_three_periods_with_a_cap() -> None:
    plans = {BASIC: plan("basic", 1000, 500)}
    sub = subscription(Phase(BASIC, MONTHS[0]))
    usage = usage_of([200, 1700, 300, 100])
    jan, feb, mar, apr = (usage_line(sub, plans, i, usage) for i in range(4))
    assert (jan.included, jan.rolled_over, jan.quantity) == (D(1000), None, D(0))
    # Jan leaves 800 unused, capped at 500; Feb uses the 500 first, then all its own 1000
    assert (feb.included, feb.rolled_over, feb.quantity, feb.amount) == (
        D(1500),
        D(500),
        D(200),
        D("2.00"),
    )
    assert "includes 500 rolled over from the previous period" in feb.description
    assert (mar.included, mar.rolled_over) == (D(1000), None)  # Feb left nothing
    # Mar leaves 700 unused: 500 carry into April
    assert (apr.included, apr.rolled_over, apr.quantity) == (D(1500), D(500), D(0))


def test_the_carry_into_a_period_depends_on_the_carry_before() -> None:
    plans = {BASIC: plan("basic", 1000, 5000)}
    sub = subscription(Phase(BASIC, MONTHS[0]))
    # Jan 0 -> 1000 carry; Feb 1200: 1000 carried + 200 own -> 800 carry; Mar 900: 800
    # carried + 100 own -> 900 carry
    usage = usage_of([0, 1200, 900, 0])
    assert usage_line(sub, plans, 3, usage).rolled_over == D(900)
    queries = usage_queries(sub, next(p for p in sub.periods() if p.index == 3), plans)
    assert set(queries) == set(usage_of([0, 0, 0, 0]))  # April's own and the three before


def test_no_rollover_on_the_giving_plan_means_no_carry() -> None:
    plans = {BASIC: plan("basic", 1000, None), PRO: plan("pro", 1000, 500)}
    sub = subscription(Phase(BASIC, MONTHS[0]), Phase(PRO, MONTHS[1]))
    usage = usage_of([0, 0, 0])
    assert usage_line(sub, plans, 1, usage).rolled_over is None  # Jan on basic gives nothing
    assert usage_line(sub, plans, 2, usage).rolled_over == D(500)  # Feb on pro gives


def test_a_change_inside_a_period_gives_from_the_last_span_and_receives_in_the_first() -> None:
    plans = {BASIC: plan("basic", 1000, 5000), PRO: plan("pro", 3000, 5000)}
    change = t("2026-02-15")  # Feb: 14 days on basic, 14 on pro (prorate: halves)
    sub = subscription(
        Phase(BASIC, MONTHS[0]), Phase(PRO, change, allowance_policy=AllowancePolicy.PRORATE)
    )
    usage = {
        UsageQuery("calls", MONTHS[0], MONTHS[1]): Usage(D(600)),  # Jan leaves 400
        UsageQuery("calls", MONTHS[1], change): Usage(D(700)),  # 400 carried + 300 of 500
        UsageQuery("calls", change, MONTHS[2]): Usage(D(1000)),  # pro's 1500: 500 unused
        UsageQuery("calls", MONTHS[2], MONTHS[3]): Usage(D(0)),
    }
    period = next(p for p in sub.periods() if p.index == 1)
    basic_part, pro_part = period_lines(sub, period, plans, usage).usage
    assert (basic_part.included, basic_part.rolled_over, basic_part.quantity) == (
        D(900),
        D(400),
        D(0),
    )
    assert (pro_part.included, pro_part.rolled_over) == (D(1500), None)
    assert usage_line(sub, plans, 2, usage).rolled_over == D(500)  # from pro's span only


def simulate(included: int, cap: int, used: list[int]) -> list[int]:
    """The rule told plainly: carried units first, then the own allowance."""
    carried, result = 0, []
    for amount in used:
        result.append(carried)
        from_carried = min(carried, amount)
        from_own = min(included, amount - from_carried)
        carried = min(cap, included - from_own)
    return result


@given(
    included=st.integers(1, 2000),
    cap=st.integers(1, 3000),
    used=st.lists(st.integers(0, 4000), min_size=1, max_size=12),
)
def test_the_chain_agrees_with_the_plain_simulation(
    included: int, cap: int, used: list[int]
) -> None:
    plans = {BASIC: plan("basic", included, cap)}
    sub = subscription(Phase(BASIC, MONTHS[0]))
    usage = usage_of(used)
    expected = simulate(included, cap, used)
    for index, carried in enumerate(expected):
        line = usage_line(sub, plans, index, usage)
        assert (line.rolled_over or 0) == carried
        assert line.quantity == max(0, used[index] - included - carried)


def test_a_stored_line_keeps_rolled_over() -> None:
    from tallybook.domain.billing.lines import line_from_dict, line_to_dict

    plans = {BASIC: plan("basic", 1000, 500)}
    line = usage_line(subscription(Phase(BASIC, MONTHS[0])), plans, 1, usage_of([0, 0]))
    assert line_to_dict(line)["rolled_over"] == "500"
    assert line_from_dict(line_to_dict(line)) == line
    assert "rolled_over" not in line_to_dict(replace(line, rolled_over=None))


# -- the catalog document ------------------------------------------------------------------

ROLLOVER_PLAN = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "p",
            "currency": "USD",
            "interval": "month",
            "charges": [
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "calls",
                    "included": 1000,
                    "rollover": {"max": 5000},
                    "model": "per_unit",
                    "unit_amount": "0.01",
                }
            ],
        }
    ],
}


def _issues(charge_fields: dict[str, object]) -> list[tuple[str, str]]:
    import copy

    from tallybook.documents.catalog.document import CatalogInvalid, parse_catalog

    document = copy.deepcopy(ROLLOVER_PLAN)
    document["plans"][0]["charges"][0].update(charge_fields)  # type: ignore[index]
    with pytest.raises(CatalogInvalid) as caught:
        parse_catalog(document)
    return [(i.location, i.message) for i in caught.value.issues]


def test_the_document_round_trips_rollover() -> None:
    from tallybook.documents.catalog.document import catalog_to_document, parse_catalog

    catalog = parse_catalog(ROLLOVER_PLAN)
    (api,) = catalog.plans[0].usage_charges
    assert api.rollover == AllowanceRollover(D(5000))
    document = catalog_to_document(catalog)
    assert document["plans"][0]["charges"][0]["rollover"] == {"max": "5000"}
    assert parse_catalog(document) == catalog


@pytest.mark.parametrize(
    ("fields", "location", "words"),
    [
        ({"included": 0}, "plans[0].charges[0].rollover", "give the charge an included"),
        ({"rollover": {"max": 0}}, "plans[0].charges[0].rollover.max", "greater than 0"),
        ({"rollover": {"max": "-5"}}, "plans[0].charges[0].rollover.max", "greater than 0"),
        ({"rollover": {}}, "plans[0].charges[0].rollover.max", "required field is missing"),
        ({"rollover": {"max": 5, "min": 1}}, "plans[0].charges[0].rollover.min", "unknown field"),
        ({"rollover": 5000}, "plans[0].charges[0].rollover", ""),
    ],
)
def test_the_catalog_refuses_a_bad_rollover(
    fields: dict[str, object], location: str, words: str
) -> None:
    found = _issues(fields)
    assert any(where == location and words in what for where, what in found), found

"""Pure governance rules: the audit chain, guard rails, switch times, change statuses and
price overrides."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.catalog.model import (
    FlatCharge,
    Plan,
    Price,
    PricingModel,
    Tier,
    UsageCharge,
)
from tallybook.domain.governance.audit import (
    GENESIS,
    AuditRecord,
    StoredLink,
    body_text,
    canonical,
    entry_body,
    redacted,
    seal,
    verify,
)
from tallybook.domain.governance.changes import (
    ApprovedChange,
    ChangeStatus,
    ChangeTiming,
    GuardRails,
    ScheduledVersion,
    guard_rail_checks,
    new_subscription_phases,
    price_moves,
    shown_status,
    switch_at,
)
from tallybook.domain.governance.overrides import (
    ChargeOverride,
    OverrideKind,
    OverrideLevel,
    overridden,
    override_from_json,
    override_to_json,
)
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import Phase, PlanRef, Subscription

T0 = datetime(2026, 3, 1, tzinfo=UTC)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _link(entry: Any) -> StoredLink:
    return StoredLink(
        entry.seq, entry.at, entry.actor, entry.actor_key, entry.action, entry.object,
        None if entry.before is None else canonical(entry.before),
        None if entry.after is None else canonical(entry.after),
        entry.reason, entry.prev_hash, entry.hash,
    )  # fmt: skip


@given(
    st.lists(
        st.tuples(st.text(max_size=10), json_values, json_values, st.none() | st.text(max_size=10)),
        min_size=1,
        max_size=5,
    )
)
def test_stored_text_hashes_like_the_canonical_entry(items: list[Any]) -> None:
    prev, links = GENESIS, []
    for seq, (actor, before, after, reason) in enumerate(items, start=1):
        record = AuditRecord(actor, "k", "POST /v1/x", "x/1", before, after, reason)
        entry = seal(seq, T0 + timedelta(microseconds=seq), record, prev)
        link = _link(entry)
        assert body_text(link) == canonical(entry_body(seq, entry.at, record))
        links.append(link)
        prev = entry.hash
    assert verify(links).ok
    tampered = [*links[:-1], replace(links[-1], actor=links[-1].actor + "!")]
    assert verify(tampered).broken_at == len(links)


def test_a_broken_link_is_named() -> None:
    a = seal(1, T0, AuditRecord("a", "k", "x", "o"), GENESIS)
    b = seal(2, T0, AuditRecord("b", "k", "x", "o"), a.hash)
    forged = replace(_link(a), hash="f" * 64)
    assert verify([forged, _link(b)]).broken_at == 1
    result = verify([_link(a), replace(_link(b), seq=3)])
    assert (result.broken_at, result.reason) == (3, "sequence_gap")


def test_secrets_are_redacted() -> None:
    body = {"id": "k1", "key": "tb_secret", "nested": [{"secret": "whsec_x"}], "name": "key"}
    assert redacted(body) == {
        "id": "k1",
        "key": "[redacted]",
        "nested": [{"secret": "[redacted]"}],
        "name": "key",
    }


def test_guard_rails() -> None:
    moves = price_moves("charges[api].unit_amount", "0.10", "0.13")
    moves += price_moves("charges[api].tiers", [{"unit_amount": "2"}], [{"unit_amount": "1"}])
    moves += price_moves("name", "A", "B")
    assert [m.path for m in moves] == [
        "charges[api].unit_amount",
        "charges[api].tiers[0].unit_amount",
    ]
    rails = GuardRails(
        max_increase_pct=Decimal(25), max_decrease_pct=Decimal(40), min_notice_days=30
    )
    checks = {c.name: c.ok for c in guard_rail_checks(moves, rails, T0 + timedelta(days=10), T0)}
    assert checks == {
        "max_increase_pct": False,
        "max_decrease_pct": False,
        "min_notice_days": False,
    }
    gentle = price_moves("amount", "100", "120")
    ok = guard_rail_checks(gentle, rails, T0 + timedelta(days=31), T0)
    assert all(c.ok for c in ok)
    from_zero = price_moves("amount", "0", "5")
    assert not guard_rail_checks(from_zero, rails, T0 + timedelta(days=31), T0)[0].ok


def _sub(start: datetime = T0, tz: str = "UTC") -> Subscription:
    return Subscription(
        id="sub_1",
        customer="c",
        currency="USD",
        start=start,
        timezone=tz,
        interval=Interval.MONTH,
        anchor=Anchor.CALENDAR,
        phases=(Phase(PlanRef("growth", 1), start),),
    )


def test_switch_at_next_period_in_the_customer_zone() -> None:
    mid = datetime(2026, 3, 15, tzinfo=UTC)
    assert switch_at(_sub(), mid, ChangeTiming.NEXT_PERIOD) == datetime(2026, 4, 1, tzinfo=UTC)
    assert switch_at(_sub(), mid, ChangeTiming.IMMEDIATE) == mid
    tokyo = _sub(datetime(2026, 2, 28, 15, tzinfo=UTC), "Asia/Tokyo")  # March 1 in Tokyo
    assert switch_at(tokyo, mid, ChangeTiming.NEXT_PERIOD) == datetime(2026, 3, 31, 15, tzinfo=UTC)
    boundary = datetime(2026, 4, 1, tzinfo=UTC)
    assert switch_at(_sub(), boundary, ChangeTiming.NEXT_PERIOD) == boundary
    ended = replace(_sub(), end=datetime(2026, 3, 20, tzinfo=UTC))
    assert switch_at(ended, mid, ChangeTiming.NEXT_PERIOD) is None


def test_shown_status() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    day = timedelta(days=1)
    first = ApprovedChange("a", frozenset({"growth"}), datetime(2026, 3, 1, tzinfo=UTC), T0)
    later = ApprovedChange("b", frozenset({"growth"}), datetime(2026, 5, 1, tzinfo=UTC), T0 + day)
    future = replace(
        later, id="c", effective_at=datetime(2026, 9, 1, tzinfo=UTC), decided_at=T0 + 2 * day
    )
    other = ApprovedChange(
        "d", frozenset({"scale"}), datetime(2026, 5, 1, tzinfo=UTC), T0 + 3 * day
    )
    everything = [first, later, future, other]
    approved = ChangeStatus.APPROVED
    assert shown_status(approved, first, everything, now) is ChangeStatus.SUPERSEDED
    assert shown_status(approved, later, everything, now) is ChangeStatus.ACTIVE
    assert shown_status(approved, future, everything, now) is ChangeStatus.APPROVED
    assert shown_status(approved, other, everything, now) is ChangeStatus.ACTIVE
    # a rollback approved later but effective earlier supersedes a change not yet active
    scheduled = replace(first, effective_at=datetime(2026, 7, 1, tzinfo=UTC))
    rollback = replace(
        first, id="r", effective_at=datetime(2026, 5, 1, tzinfo=UTC), decided_at=T0 + day
    )
    assert shown_status(approved, scheduled, [scheduled, rollback], now) is ChangeStatus.SUPERSEDED
    assert shown_status(ChangeStatus.REJECTED, first, everything, now) is ChangeStatus.REJECTED


PLAN = Plan(
    key="growth",
    name="Growth",
    currency="USD",
    interval=Interval.MONTH,
    charges=(
        FlatCharge("platform", amount=Decimal("100.00")),
        UsageCharge(
            "api",
            "calls",
            Price(
                PricingModel.GRADUATED,
                tiers=(
                    Tier(Decimal(10), Decimal("0.10"), Decimal("1")),
                    Tier(None, Decimal("0.05")),
                ),
            ),
        ),
    ),
)


def _override(level: OverrideLevel, kind: OverrideKind, **values: Any) -> ChargeOverride:
    return ChargeOverride(
        id=f"o_{level.value}", level=level, charge=values.pop("charge", "api"), kind=kind,
        start=T0, **values,
    )  # fmt: skip


def test_multiplier_scales_every_money_field_and_subscription_wins() -> None:
    customer = _override(OverrideLevel.CUSTOMER, OverrideKind.MULTIPLIER, multiplier=Decimal("0.9"))
    plan = overridden(PLAN, [customer], T0)
    api = plan.charges[1]
    assert isinstance(api, UsageCharge)
    assert [(t.unit_amount, t.flat_amount) for t in api.price.tiers] == [
        (Decimal("0.09"), Decimal("0.9")),
        (Decimal("0.045"), Decimal("0")),
    ]
    assert plan.charges[0] == PLAN.charges[0]
    mine = _override(
        OverrideLevel.SUBSCRIPTION, OverrideKind.OVERWRITE,
        fields={"tiers": (Tier(None, Decimal("0.01")),)},
    )  # fmt: skip
    both = overridden(PLAN, [customer, mine], T0)
    assert isinstance(both.charges[1], UsageCharge)
    assert both.charges[1].price.tiers == (Tier(None, Decimal("0.01")),)
    assert overridden(PLAN, [customer], T0 - timedelta(seconds=1)) is PLAN  # not in force


def test_override_json_round_trip_and_overlap() -> None:
    item = _override(
        OverrideLevel.SUBSCRIPTION, OverrideKind.OVERWRITE,
        fields={"unit_amount": Decimal("0.05"), "tiers": (Tier(Decimal(5), Decimal("1")),)},
        end=T0 + timedelta(days=31),
    )  # fmt: skip
    assert override_from_json(override_to_json(item)) == item
    after = replace(item, id="b", start=item.end, end=None)
    assert not item.overlaps(after) and item.overlaps(replace(after, start=T0))
    assert not item.overlaps(replace(after, start=T0, level=OverrideLevel.CUSTOMER))


def test_new_subscriptions_follow_the_schedule_and_its_rollbacks() -> None:
    mid = datetime(2026, 3, 15, tzinfo=UTC)
    change = ScheduledVersion(mid, ChangeTiming.NEXT_PERIOD, 1, 2, T0 - timedelta(days=9))
    rollback = ScheduledVersion(mid, ChangeTiming.NEXT_PERIOD, 2, 3, T0 - timedelta(days=8))
    sub = replace(_sub(), phases=(Phase(PlanRef("growth", 3), T0),))
    april = datetime(2026, 4, 1, tzinfo=UTC)
    assert new_subscription_phases(sub, [change]) == (
        Phase(PlanRef("growth", 1), T0),
        Phase(PlanRef("growth", 2), april),
    )
    assert new_subscription_phases(sub, [change, rollback]) == (
        Phase(PlanRef("growth", 1), T0),
        Phase(PlanRef("growth", 3), april),
    )
    immediate = replace(change, timing=ChangeTiming.IMMEDIATE)
    assert new_subscription_phases(sub, [immediate])[-1] == Phase(PlanRef("growth", 2), mid)  # type: ignore[index]
    assert new_subscription_phases(replace(sub, start=april), [change]) is None
    # approved later, effective earlier: the early rollback replaces the later switch
    june = ScheduledVersion(datetime(2026, 6, 1, tzinfo=UTC), ChangeTiming.NEXT_PERIOD, 1, 2, T0)
    early = ScheduledVersion(mid, ChangeTiming.NEXT_PERIOD, 2, 3, T0 + timedelta(days=1))
    assert new_subscription_phases(sub, [early, june]) == (
        Phase(PlanRef("growth", 1), T0),
        Phase(PlanRef("growth", 3), april),
    )

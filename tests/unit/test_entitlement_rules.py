"""The pure entitlement and spend-limit rules (``domain.entitlements``,
``domain.spend_limits``), by example and by property."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallybook.domain.catalog.model import Feature, FeatureType
from tallybook.domain.entitlements import Entitlement, Override, Reason, decide, effective_feature
from tallybook.domain.errors import ValidationError
from tallybook.domain.spend_limits import SpendLimit, SpendMode, blocks, check_amount, reached

NOW = datetime(2026, 1, 16, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)
CALLS = Feature("calls", FeatureType.METERED, meter="api_calls", limit=Decimal(100), hard=True)
SSO = Feature("sso", FeatureType.BOOLEAN)
quantities = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False)


def metered(feature: Feature, usage: Decimal, units: Decimal, blocked: bool = False) -> Entitlement:
    return decide(feature, usage=usage, units=units, spend_blocked=blocked, reset_at=END, as_of=NOW)


@given(usage=quantities, units=quantities, limit=quantities)
def test_a_hard_limit_grants_access_iff_usage_plus_units_fits(
    usage: Decimal, units: Decimal, limit: Decimal
) -> None:
    feature = Feature("f", FeatureType.METERED, meter="m", limit=limit, hard=True)
    answer = metered(feature, usage, units)
    assert answer.has_access is (usage + units <= limit)
    assert answer.reason is (None if answer.has_access else Reason.LIMIT_REACHED)
    assert answer.remaining == max(Decimal(0), limit - usage)
    assert answer.overage == max(Decimal(0), usage - limit)
    assert answer.remaining is not None and answer.overage is not None
    assert answer.remaining - answer.overage == limit - usage


@given(usage=quantities, units=quantities, limit=quantities)
def test_a_soft_limit_always_grants_and_says_when_it_is_passed(
    usage: Decimal, units: Decimal, limit: Decimal
) -> None:
    feature = Feature("f", FeatureType.METERED, meter="m", limit=limit, hard=False)
    answer = metered(feature, usage, units)
    assert answer.has_access is True
    assert (answer.reason is Reason.LIMIT_REACHED) is (usage + units > limit)


@given(usage=quantities, hard=st.booleans())
def test_a_reached_hard_spend_limit_refuses_every_metered_feature(
    usage: Decimal, hard: bool
) -> None:
    feature = Feature("f", FeatureType.METERED, meter="m", limit=Decimal(10**12), hard=hard)
    answer = metered(feature, usage, Decimal(0), blocked=True)
    assert (answer.has_access, answer.reason) == (False, Reason.SPEND_LIMIT_REACHED)


def test_boolean_and_static_features_ignore_usage_and_spend() -> None:
    answer = decide(SSO, usage=None, units=Decimal(5), spend_blocked=True, reset_at=None, as_of=NOW)
    assert (answer.has_access, answer.reason, answer.usage, answer.reset_at) == (
        True,
        None,
        None,
        None,
    )
    static = Feature("support", FeatureType.STATIC, config={"tier": "gold"})
    answer = decide(
        static, usage=None, units=Decimal(1), spend_blocked=False, reset_at=END, as_of=NOW
    )
    assert answer.config == {"tier": "gold"} and answer.reset_at is None


def test_overrides() -> None:
    assert effective_feature(SSO, SSO, Override(enabled=False)) is None
    assert effective_feature(None, SSO, Override(enabled=True)) == SSO
    assert effective_feature(None, SSO, None) is None
    assert effective_feature(None, SSO, Override(limit=Decimal(5))) is None  # not enabled
    raised = effective_feature(CALLS, CALLS, Override(limit=Decimal(500), hard=False))
    assert raised is not None and (raised.limit, raised.hard) == (Decimal(500), False)
    kept = effective_feature(CALLS, CALLS, Override(hard=False))
    assert kept is not None and (kept.limit, kept.hard) == (Decimal(100), False)


def test_spend_limit_is_reached_at_the_total_not_one_cent_under() -> None:
    limit = SpendLimit(Decimal("320.00"), SpendMode.HARD, "USD", NOW)
    assert not reached(Decimal("319.99"), limit.amount) and not blocks(limit, Decimal("319.99"))
    assert reached(Decimal("320.00"), limit.amount) and blocks(limit, Decimal("320.00"))
    soft = SpendLimit(Decimal("320.00"), SpendMode.SOFT, "USD", NOW)
    assert reached(Decimal("400"), soft.amount) and not blocks(soft, Decimal("400"))
    assert not blocks(limit, None) and not blocks(None, Decimal(10**6))


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "1000000000000000"])
def test_limit_amounts_are_positive_bounded_and_in_minor_units(amount: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check_amount(Decimal(amount), "USD")
    assert raised.value.code == "invalid_amount"
    assert check_amount(Decimal("1000.5"), "USD") == Decimal("1000.5")
    with pytest.raises(ValidationError):
        check_amount(Decimal("10.5"), "JPY")

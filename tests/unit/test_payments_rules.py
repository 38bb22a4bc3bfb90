"""Payment-provider rules without a network or a store: Stripe's minor units per
currency (exact or refused), idempotency keys, reconciliation categories and drift, and
the retry policy (same call again, Retry-After honoured)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tallybook.adapters.stripe.amounts import AmountNotRepresentable, from_stripe, to_stripe
from tallybook.domain.payments import (
    Action,
    Category,
    LocalSide,
    RemoteSide,
    classify,
    drift_message,
    idempotency_key,
)
from tallybook.services.ports import ProviderError
from tallybook.services.sync.calls import RateGate, RetryPolicy, call

D = Decimal


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (D("21.50"), "USD", 2150),
        (D("-3.10"), "EUR", -310),
        (D("1500"), "JPY", 1500),  # zero-decimal
        (D("980"), "KRW", 980),
        (D("5.120"), "KWD", 5120),  # three-decimal, last digit 0
        (D("0.010"), "BHD", 10),
        (D("1000"), "ISK", 100000),  # Stripe keeps ISK as two-decimal integers
        (D("0"), "USD", 0),
    ],
)
def test_minor_units_are_exact(amount: Decimal, currency: str, minor: int) -> None:
    assert to_stripe(amount, currency) == minor
    assert from_stripe(minor, currency) == amount


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (D("5.125"), "KWD"),  # Stripe cannot charge the last fils
        (D("1.5"), "JPY"),  # more places than the currency has
        (D("0.001"), "USD"),
        (D("10.5"), "ISK"),
    ],
)
def test_amounts_stripe_cannot_take_are_refused_never_rounded(
    amount: Decimal, currency: str
) -> None:
    with pytest.raises(AmountNotRepresentable):
        to_stripe(amount, currency)


def test_idempotency_keys_follow_the_contract() -> None:
    assert idempotency_key("t1", "inv_1", "invoice") == "tb:t1:inv_1:invoice"
    assert idempotency_key("t1", "inv_1", "item", 3) == "tb:t1:inv_1:item:3"
    assert idempotency_key("t1", "inv_1", "item", 3, generation=2) == "tb:t1:inv_1:item@2:3"
    assert idempotency_key("t1", "inv_1", "customer") == "tb:t1:inv_1:customer"


LOCAL = LocalSide("inv_1", "INV-000001", "USD", D("21.00"), "finalized")


@pytest.mark.parametrize(
    ("local", "remote", "category", "drift", "action"),
    [
        (LOCAL, RemoteSide("in_1", "USD", D("21.00"), "open"), "ok", "0", "none"),
        (LOCAL, RemoteSide("in_1", "USD", D("16.00"), "open"), "amount_mismatch", "5.00", "review"),
        (
            LOCAL,
            RemoteSide("in_1", "EUR", D("21.00"), "open"),
            "amount_mismatch",
            "21.00",
            "review",
        ),
        (
            LOCAL,
            RemoteSide("in_1", "USD", D("21.00"), "paid"),
            "status_mismatch",
            "21.00",
            "mark_paid",
        ),
        (LOCAL, RemoteSide("in_1", "USD", D("21.00"), "draft"), "status_mismatch", "21.00", "push"),
        (LOCAL, None, "missing_remote", "21.00", "push"),
        (
            None,
            RemoteSide("in_9", "USD", D("12.34"), "open"),
            "orphan_remote",
            "12.34",
            "void_remote",
        ),
        (None, RemoteSide("in_9", "USD", D("12.34"), "paid"), "orphan_remote", "12.34", "review"),
        (None, RemoteSide("in_9", "USD", D("12.34"), "void"), "ok", "0", "none"),
        (
            LocalSide("inv_1", "INV-000001", "USD", D("21.00"), "void"),
            RemoteSide("in_1", "USD", D("21.00"), "open"),
            "status_mismatch",
            "21.00",
            "void_remote",
        ),
        (LocalSide("inv_1", None, "USD", D("21.00"), "void"), None, "ok", "0", "none"),
        (LocalSide("inv_1", None, "USD", D("21.00"), "paid"), None, "ok", "0", "none"),
        (
            LocalSide("inv_1", None, "USD", D("21.00"), "paid"),
            RemoteSide("in_1", "USD", D("21.00"), "open"),
            "status_mismatch",
            "21.00",
            "review",
        ),
    ],
)
def test_classification(
    local: LocalSide | None, remote: RemoteSide | None, category: str, drift: str, action: str
) -> None:
    verdict = classify(local, remote)
    assert (verdict.category, verdict.drift, verdict.action) == (
        Category(category),
        D(drift),
        Action(action),
    )


def test_drift_message_never_adds_currencies() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    one = drift_message(
        run_id="rec_1",
        provider="stripe",
        start=at,
        end=at,
        checked=3,
        ok=2,
        counts={"ok": 2, "missing_remote": 1},
        drift={"USD": D("21.00")},
        at=at,
    )
    assert one.type == "reconciliation.drift" and one.customer is None
    assert one.data["drift_amount"] == "21.00"
    two = drift_message(
        run_id="rec_1",
        provider="stripe",
        start=at,
        end=at,
        checked=3,
        ok=1,
        counts={},
        drift={"USD": D("1.00"), "EUR": D("2.00")},
        at=at,
    )
    assert two.data["drift_amount"] is None
    assert two.data["drift_amounts"] == {"EUR": "2.00", "USD": "1.00"}


def test_retryable_errors_are_retried_and_others_are_not() -> None:
    sleeps: list[float] = []
    gate = RateGate(sleep=sleeps.append)
    answers: list[object] = [
        ProviderError("boom", code="server_error", retryable=True),
        ProviderError("slow down", code="rate_limited", retryable=True, retry_after=0),
        "done",
    ]

    def flaky() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    policy = RetryPolicy(attempts=4, base=1, max_wait=60)
    assert call(flaky, policy, gate, sleep=sleeps.append) == "done"
    assert sleeps == [1] and gate.pauses == 1

    def refused() -> str:
        raise ProviderError("bad", code="invalid_request", retryable=False)

    with pytest.raises(ProviderError):
        call(refused, policy, gate, sleep=sleeps.append)
    assert sleeps == [1]

    def too_slow() -> str:
        raise ProviderError("later", code="rate_limited", retryable=True, retry_after=3600)

    with pytest.raises(ProviderError):  # left pending for a later pass instead
        call(too_slow, policy, gate, sleep=sleeps.append)

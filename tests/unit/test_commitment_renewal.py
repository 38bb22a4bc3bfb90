"""Commitment renewal's pure rules: the renewed term's length, and which terms renew."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest

from tallybook.domain.credits.commitments import Commitment, CommitmentKind
from tallybook.domain.credits.ledger import AppliesTo
from tallybook.domain.credits.renewal import next_term_end, renewals
from tallybook.domain.periods import Anchor, Interval
from tallybook.domain.subscriptions.model import Phase, PlanRef, Subscription


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def term(start: datetime, end: datetime, renew: bool = True) -> Commitment:
    return Commitment(
        "cm_1", "s", "c", "USD", CommitmentKind.PREPAID, Decimal(100), start, end,
        AppliesTo(), Decimal(0), renew, start,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("start", "end", "renewed_end"),
    [
        (at(2025, 1, 1), at(2026, 1, 1), at(2027, 1, 1)),  # a year, whatever its days
        (at(2027, 3, 1), at(2028, 3, 1), at(2029, 3, 1)),  # across Feb 29
        (at(2026, 1, 31), at(2026, 2, 28), at(2026, 3, 31)),  # a month from Jan 31
        (at(2026, 1, 1), at(2026, 1, 11), at(2026, 1, 21)),  # not whole months: 10 days
        (at(2026, 1, 15, 12), at(2026, 4, 15, 12), at(2026, 7, 15, 12)),
    ],
)
def test_a_renewal_has_the_same_length(
    start: datetime, end: datetime, renewed_end: datetime
) -> None:
    assert next_term_end(term(start, end)) == renewed_end


def _sub(end: datetime | None = None) -> Subscription:
    start = at(2026, 1, 1)
    return Subscription(
        "s", "c", "USD", start, "UTC", Interval.MONTH, Anchor.CALENDAR,
        (Phase(PlanRef("p", 1), start),), end=end,
    )  # fmt: skip


def test_renewals_chain_until_as_of_and_stop_where_they_must() -> None:
    ids = (f"cm_{n}" for n in count(2))
    first = term(at(2026, 1, 1), at(2026, 2, 1))
    now = at(2026, 4, 1, 2)
    made = renewals([first], {"s": _sub()}, at(2026, 3, 1, 2), lambda: next(ids), now)
    assert [(t.term_start, t.term_end) for t in made] == [
        (at(2026, 2, 1), at(2026, 3, 1)),
        (at(2026, 3, 1), at(2026, 4, 1)),
    ]
    assert all(t.renew and t.amount == first.amount for t in made)
    assert renewals([first, *made], {"s": _sub()}, at(2026, 3, 1, 2), lambda: "x", now) == []
    assert renewals([replace(first, renew=False)], {"s": _sub()}, now, lambda: "x", now) == []
    ended = {"s": _sub(end=at(2026, 2, 1))}
    assert renewals([first], ended, now, lambda: "x", now) == []
    assert renewals([first], {}, now, lambda: "x", now) == []

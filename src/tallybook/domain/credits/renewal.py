"""Commitment renewal and the rollover of a prepaid term's unused part (pure).

CONTRACT.md Part 2, "Commitments": ``renew: true`` starts a new term of the same length
when a term ends; on renewal, ``rollover_fraction`` x the unused part of a prepaid term
becomes a grant of the new term, drawn first (priority 0).

- **Renewal** (``renewals``): a billing run as of ``as_of`` writes the next term of every
  ``renew`` term that has ended by then, as long as the subscription goes on past the
  term's end and no term of the subscription already covers the time after it. The new
  term copies the old one (kind, amount, scope, fraction, ``renew``); its length is the
  same number of calendar months when the old term was whole months from its start
  (``next_term_end``), else the same duration.
- **Rollover** (``TermCloser``): when the invoice whose period holds a renewing prepaid
  term's end is finalized (after it drew), the term is closed: what is left of its grants
  (the prepaid grant and any grant carried into it) expires at the term's end, and
  ``rollover_fraction`` x that rest, rounded once (``money.round_amount``), is a ``paid``
  priority-0 grant ``<new term id>_carryover`` valid over the new term, with a
  ``rollover`` entry. Its id sorts before the new term's ``<id>_prepaid`` grant, and it is
  never younger, so it is drawn first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.credits.commitments import Commitment, CommitmentKind
from tallybook.domain.credits.ledger import Category, Entry, EntryType, Grant
from tallybook.domain.credits.plan_credits import InvoiceKey
from tallybook.domain.money import format_decimal, round_amount
from tallybook.domain.periods import Interval, add_intervals
from tallybook.domain.subscriptions.model import Subscription

ZERO = Decimal(0)
CARRY_SOURCE = "rollover"


def carry_id(term: Commitment) -> str:
    """The id of the grant carried into ``term`` from the term before it."""
    return f"{term.id}_carryover"


def next_term_end(term: Commitment) -> datetime:
    """Where a renewal of ``term`` ends: as many calendar months after its end as the term
    spans (counted from the term's start, so a Jan 31 start keeps its day where it can),
    or, for a term that is not whole months, its end plus its duration."""
    start, end = term.term_start, term.term_end
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and add_intervals(start, Interval.MONTH, months) == end:
        return add_intervals(start, Interval.MONTH, 2 * months)
    return end + (end - start)


def renewals(
    terms: Sequence[Commitment],
    subscriptions: Mapping[str, Subscription],
    as_of: datetime,
    new_id: Callable[[], str],
    now: datetime,
) -> list[Commitment]:
    """The renewal terms due by ``as_of`` that ``terms`` (the account's) do not hold yet,
    chained when several term ends have passed."""
    known = list(terms)
    created: list[Commitment] = []
    for term in sorted(terms, key=lambda t: (t.term_start, t.id)):
        current = term
        while current.renew and current.term_end <= as_of:
            subscription = subscriptions.get(current.subscription)
            if subscription is None:
                break
            if subscription.end is not None and subscription.end <= current.term_end:
                break
            start, end = current.term_end, next_term_end(current)
            if any(
                other.subscription == current.subscription
                and other.term_start < end
                and start < other.term_end
                for other in known
            ):
                break  # renewed already, or a term given by hand follows
            current = replace(current, id=new_id(), term_start=start, term_end=end, created_at=now)
            known.append(current)
            created.append(current)
    return created


def carry_grant(term: Commitment, amount: Decimal, now: datetime) -> Grant:
    """The grant carried into the renewal ``term``: paid, priority 0, valid over it."""
    return Grant(
        id=carry_id(term),
        customer=term.account,
        currency=term.currency,
        amount=amount,
        category=Category.PAID,
        priority=0,
        effective_at=term.term_start,
        expires_at=term.term_end,
        applies_to=term.applies_to,
        created_at=now,
        description=f"commitment rollover: {format_decimal(amount)} into {term.id}",
        source=CARRY_SOURCE,
    )


class TermCloser:
    """Closes renewing prepaid terms when the invoice holding their end is final (called
    by ``services.credits.apply_to_drafts`` after each final draft draws); ``entries``
    by the key of that draft, ``grants`` the carried grants."""

    def __init__(self, terms: Sequence[Commitment], now: datetime):
        self._terms = [
            t
            for t in terms
            if t.kind is CommitmentKind.PREPAID and t.renew and t.rollover_fraction > 0
        ]
        self._all = list(terms)
        self._now = now
        self._closed: set[str] = set()
        self.entries: dict[InvoiceKey, list[Entry]] = {}
        self.grants: list[Grant] = []

    def __call__(self, draft: InvoiceDraft, left: dict[str, Decimal]) -> list[Grant]:
        created = []
        for term in self._terms:
            if term.id in self._closed or not _holds_end(draft, term):
                continue
            following = next(
                (
                    t
                    for t in self._all
                    if t.subscription == term.subscription and t.term_start == term.term_end
                ),
                None,
            )
            if following is None:
                continue
            self._closed.add(term.id)
            entries = self.entries.setdefault(draft.key, [])
            rest = ZERO
            for grant_id in (carry_id(term), term.grant_id):
                left_over = left.get(grant_id, ZERO)
                if left_over > 0:
                    entries.append(Entry(grant_id, EntryType.EXPIRY, -left_over, term.term_end))
                    left[grant_id] = ZERO
                    rest += left_over
            amount = round_amount(term.rollover_fraction * rest, term.currency)
            if amount <= 0:
                continue
            grant = carry_grant(following, amount, self._now)
            entries.append(Entry(grant.id, EntryType.ROLLOVER, amount, grant.effective_at))
            left[grant.id] = amount
            self.grants.append(grant)
            created.append(grant)
        return created


def _holds_end(draft: InvoiceDraft, term: Commitment) -> bool:
    """Whether ``draft`` bills the subscription's period that holds the term's end."""
    return (
        draft.kind is SlotKind.PERIOD
        and any(
            sid == term.subscription and kind is SlotKind.PERIOD for sid, kind, _ in draft.slots
        )
        and draft.period_start < term.term_end <= draft.period_end
    )

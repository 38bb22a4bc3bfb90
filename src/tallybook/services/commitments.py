"""Commitments on subscriptions: attach a term, read its state, and the billing run's part.

The rules are ``domain.credits.commitments``'s. ``CommitmentService.build`` checks a
request before anything is stored (so ``POST /v1/subscriptions`` with a bad commitment
stores no subscription); ``attach`` stores the term; ``status`` is
``GET /v1/subscriptions/{id}/commitment``. ``commitment_lines`` is called by the billing
run on an account's drafts: it adds the ``commitment`` line of a prepaid term (and the
grant it buys, created when that invoice is finalized, in the same unit of work) and the
``true_up`` line of a postpaid term on the invoice of the period ending at the term's
end (or the subscription's, when it ends first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.credits.commitments import (
    Commitment,
    CommitmentKind,
    billed_in_term,
    check_commitment,
    commitment_line,
    prepaid_grant,
    true_up_amount,
    true_up_line,
)
from tallybook.domain.credits.ledger import AppliesTo, Grant
from tallybook.domain.credits.renewal import carry_id
from tallybook.domain.errors import NotFound, ValidationError
from tallybook.domain.ids import new_id
from tallybook.domain.subscriptions.model import Subscription
from tallybook.domain.subscriptions.stored import StoredSubscription
from tallybook.services.ports import Clock

ZERO = Decimal(0)


class CommitmentStore(Protocol):
    """``adapters.store.commitments.CommitmentStore``."""

    def insert(self, tenant_id: str, commitment: Commitment) -> None: ...

    def of_subscription(self, tenant_id: str, subscription_id: str) -> list[Commitment]: ...

    def account_lines(
        self, tenant_id: str, account: str, since: datetime
    ) -> tuple[list[Line], list[Line]]:
        """(final lines, draft lines) of invoices of periods ending after ``since``."""
        ...


class Subscriptions(Protocol):
    def get(self, tenant_id: str, subscription_id: str) -> StoredSubscription: ...


class Balances(Protocol):
    def balances(self, tenant_id: str, customer: str) -> list[tuple[Grant, Decimal]]: ...


@dataclass(frozen=True, slots=True)
class CommitmentSpec:
    """A ``commitment`` request body, decimals and instants parsed."""

    kind: str
    amount: Decimal
    term_end: datetime
    term_start: datetime | None = None
    applies_to: Any = None
    rollover_fraction: Decimal = ZERO
    renew: bool = False


@dataclass(frozen=True, slots=True)
class CommitmentStatus:
    term: Commitment
    drawn: Decimal
    remaining: Decimal
    billed_in_term: Decimal
    projected_true_up: Decimal
    rolled_over: Decimal = ZERO  # carried into this term from the one before (prepaid)


class CommitmentService:
    def __init__(
        self,
        store: CommitmentStore,
        subscriptions: Subscriptions,
        credits: Balances,
        clock: Clock,
    ):
        self._store = store
        self._subscriptions = subscriptions
        self._credits = credits
        self._clock = clock

    def build(
        self,
        spec: CommitmentSpec,
        *,
        subscription: str,
        account: str,
        currency: str,
        start: datetime,
    ) -> Commitment:
        """A checked term (not stored). Codes: ``invalid_commitment_kind``,
        ``invalid_applies_to`` and ``check_commitment``'s."""
        try:
            kind = CommitmentKind(spec.kind)
        except ValueError:
            raise ValidationError(
                'commitment kind must be "prepaid" or "postpaid"', code="invalid_commitment_kind"
            ) from None
        term = Commitment(
            id=new_id("cm"),
            subscription=subscription,
            account=account,
            currency=currency,
            kind=kind,
            amount=spec.amount,
            term_start=spec.term_start or start,
            term_end=spec.term_end,
            applies_to=AppliesTo.from_json(spec.applies_to),
            rollover_fraction=spec.rollover_fraction,
            renew=spec.renew,
            created_at=self._clock.now(),
        )
        check_commitment(term)
        return term

    def attach(self, tenant_id: str, term: Commitment) -> Commitment:
        """Store a term built by ``build`` for a stored subscription."""
        stored = replace(term, created_at=self._clock.now())
        self._store.insert(tenant_id, stored)
        return stored

    def attach_spec(self, tenant_id: str, subscription_id: str, spec: CommitmentSpec) -> Commitment:
        """``POST /v1/subscriptions/{id}/commitment``: a new term for a stored subscription."""
        stored = self._subscriptions.get(tenant_id, subscription_id)
        sub = stored.subscription
        term = self.build(
            spec,
            subscription=sub.id,
            account=stored.account,
            currency=sub.currency,
            start=sub.start,
        )
        for other in self._store.of_subscription(tenant_id, sub.id):
            if other.term_start < term.term_end and term.term_start < other.term_end:
                raise ValidationError(
                    f"the term overlaps the subscription's commitment {other.id}",
                    code="overlapping_commitment",
                    details={"commitment": other.id},
                )
        return self.attach(tenant_id, term)

    def status(self, tenant_id: str, subscription_id: str) -> CommitmentStatus:
        """The current term (or the last one when none is current) with what is drawn."""
        stored = self._subscriptions.get(tenant_id, subscription_id)
        terms = self._store.of_subscription(tenant_id, subscription_id)
        if not terms:
            raise NotFound(
                f"subscription {subscription_id!r} has no commitment",
                code="commitment_not_found",
                details={"subscription": subscription_id},
            )
        now = self._clock.now()
        current = [t for t in terms if t.term_start <= now < t.term_end]
        term = current[0] if current else max(terms, key=lambda t: t.term_start)
        final, drafts = self._store.account_lines(tenant_id, stored.account, term.term_start)
        billed = billed_in_term(term, final)
        if term.kind is CommitmentKind.PREPAID:
            balances = self._credits.balances(tenant_id, stored.account)
            left = {g.id: rest for g, rest in balances}
            carried = sum((g.amount for g, _ in balances if g.id == carry_id(term)), ZERO)
            remaining = left.get(term.grant_id, term.amount) + left.get(carry_id(term), ZERO)
            drawn = term.amount + carried - remaining
            return CommitmentStatus(term, drawn, remaining, billed, ZERO, carried)
        end = _term_end(term, stored.subscription)
        trued = sum((ln.amount for ln in final if _true_up_of(term, ln)), ZERO)
        pending = billed_in_term(term, drafts)
        projected = max(true_up_amount(term, billed + pending, end) - trued, ZERO)
        remaining = max(term.amount - billed - trued, ZERO)
        return CommitmentStatus(term, billed, remaining, billed, projected)


def _true_up_of(term: Commitment, line: Line) -> bool:
    return line.type is LineType.TRUE_UP and line.charge == term.id


def _term_end(term: Commitment, subscription: Subscription) -> datetime:
    if subscription.end is not None and subscription.end < term.term_end:
        return subscription.end
    return term.term_end


def commitment_lines(
    drafts: Sequence[InvoiceDraft],
    terms: Sequence[Commitment],
    term_lines: Sequence[Line],
    subscriptions: Mapping[str, Subscription],
    known_grants: set[str],
    as_of: datetime,
    now: datetime,
) -> tuple[list[InvoiceDraft], list[Grant]]:
    """The account's drafts with its terms' ``commitment`` and ``true_up`` lines, and the
    grants the prepaid ones buy (stored only if the invoice carrying the line finalizes).

    ``term_lines`` are the account's final lines since its first term; a term whose line
    is already on a final invoice is not billed again.
    """
    result = list(drafts)
    bought: list[Grant] = []
    billed_before = {(line.type, line.charge) for line in term_lines}
    for term in terms:
        subscription = subscriptions.get(term.subscription)
        if subscription is None:
            continue
        if term.kind is CommitmentKind.PREPAID:
            if term.grant_id in known_grants or (LineType.COMMITMENT, term.id) in billed_before:
                continue
            if term.term_start > as_of:
                continue
            index = _first_with(result, term.subscription, term.term_start)
            if index is None:
                continue
            line = commitment_line(term).owned_by(subscription.customer, subscription.id)
            result[index] = replace(result[index], lines=(*result[index].lines, line))
            bought.append(prepaid_grant(term, now))
        else:
            if (LineType.TRUE_UP, term.id) in billed_before:
                continue
            end = _term_end(term, subscription)
            index = _closing(result, term.subscription, end)
            if index is None:
                continue
            closing = result[index]
            billed = billed_in_term(term, term_lines) + sum(
                (
                    billed_in_term(term, d.lines)
                    for d in result
                    if d.period_end <= closing.period_end
                ),
                ZERO,
            )
            amount = true_up_amount(term, billed, end)
            if amount > 0:
                line = true_up_line(term, amount, end).owned_by(
                    subscription.customer, subscription.id
                )
                result[index] = replace(closing, lines=(*closing.lines, line))
    return result, bought


def _first_with(drafts: Sequence[InvoiceDraft], subscription: str, start: datetime) -> int | None:
    """The first draft billing ``subscription`` for time after ``start`` (a renewed term's
    line never lands on the previous term's last invoice)."""
    found = [
        i
        for i, d in enumerate(drafts)
        if d.period_end > start and any(sid == subscription for sid, _, _ in d.slots)
    ]
    return min(found, key=lambda i: (drafts[i].issue_at, drafts[i].period_start), default=None)


def _closing(drafts: Sequence[InvoiceDraft], subscription: str, end: datetime) -> int | None:
    for index, draft in enumerate(drafts):
        ours = any(sid == subscription and kind is SlotKind.PERIOD for sid, kind, _ in draft.slots)
        if ours and draft.kind is SlotKind.PERIOD and draft.period_start < end <= draft.period_end:
            return index
    return None

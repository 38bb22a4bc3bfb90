"""An account's credits work in a billing run: plan credits, commitment renewals, closers.

The rules are ``domain.credits.plan_credits``'s and ``domain.credits.renewal``'s.
``run_credits`` is called by the billing run for one account inside its unit of work; it
returns

- the plan grants of the periods started by ``as_of`` not written yet (ids ``pc_``; their
  rollovers' ``rc_``: a period's plan grant and the rollover into it share priority and
  expiry, and a rollover is never older, so the plan grant is drawn first either way);
- the commitment terms renewed by ``as_of``;
- one ``Closers`` that ``services.credits.apply_to_drafts`` calls after each final
  invoice draws: plan credits' expiries and rollovers of that invoice's period, and a
  renewing prepaid term's expiry and rollover into its renewal.

``billing.runs`` writes all of it with the invoices, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.period_lines import Plans, plan_for
from tallybook.domain.credits.commitments import Commitment
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.domain.credits.plan_credits import (
    PLAN,
    InvoiceKey,
    PlanCreditCloser,
    due_plan_grants,
    group_of,
)
from tallybook.domain.credits.renewal import TermCloser, renewals
from tallybook.domain.ids import new_id
from tallybook.domain.subscriptions.model import Subscription
from tallybook.services.ports import AccountState


class Closer(Protocol):
    """Closes grants when an invoice is final: ``PlanCreditCloser``, ``TermCloser``."""

    entries: dict[InvoiceKey, list[Entry]]
    grants: list[Grant]

    def __call__(self, draft: InvoiceDraft, left: dict[str, Decimal]) -> list[Grant]: ...


class Closers:
    """Several closers called in turn; their entries (by draft key) and grants merged."""

    def __init__(self, closers: Sequence[Closer]):
        self._closers = list(closers)

    def __call__(self, draft: InvoiceDraft, left: dict[str, Decimal]) -> list[Grant]:
        return [grant for closer in self._closers for grant in closer(draft, left)]

    @property
    def entries(self) -> dict[InvoiceKey, list[Entry]]:
        merged: dict[InvoiceKey, list[Entry]] = {}
        for closer in self._closers:
            for key, entries in closer.entries.items():
                merged.setdefault(key, []).extend(entries)
        return merged

    @property
    def grants(self) -> list[Grant]:
        return [grant for closer in self._closers for grant in closer.grants]


@dataclass(frozen=True, slots=True)
class RunCredits:
    """One account's credits work in a run."""

    granted: list[Grant]  # plan grants written now
    renewed: list[Commitment]  # commitment terms renewed now
    closers: Closers | None


def run_credits(
    state: AccountState,
    subscriptions: Sequence[Subscription],
    billed_through: Mapping[str, datetime | None],
    plans: Plans,
    as_of: datetime,
    now: datetime,
) -> RunCredits | None:
    """The account's plan credits and renewals due as of ``as_of`` (None: nothing to do)."""
    by_id = {sub.id: sub for sub in subscriptions}
    granted, plan_closer = _plan_credits(state, subscriptions, billed_through, plans, as_of, now)
    renewed = renewals(state.commitments, by_id, as_of, lambda: new_id("cm"), now)
    closers: list[Closer] = [] if plan_closer is None else [plan_closer]
    terms = [*state.commitments, *renewed]
    if any(t.renew and t.rollover_fraction > 0 for t in terms):
        closers.append(TermCloser(terms, now))
    if not granted and not renewed and not closers:
        return None
    return RunCredits(granted, renewed, Closers(closers) if closers else None)


def _plan_credits(
    state: AccountState,
    subscriptions: Sequence[Subscription],
    billed_through: Mapping[str, datetime | None],
    plans: Plans,
    as_of: datetime,
    now: datetime,
) -> tuple[list[Grant], PlanCreditCloser | None]:
    stored = [grant for grant, _ in state.credits]
    offered = any(
        plan_for(plans, phase.plan).credit_grants for sub in subscriptions for phase in sub.phases
    )
    if not offered and not any(group_of(g) for g in stored):
        return [], None
    known = {key for g in stored if g.source == PLAN and (key := group_of(g)) is not None}
    granted = [
        grant
        for sub in subscriptions
        for grant in due_plan_grants(
            sub,
            plans,
            billed_through.get(sub.id),
            as_of,
            known,
            state.customer.id,
            lambda: new_id("pc"),
            now,
        )
    ]
    grants = [*stored, *granted]
    if not any(group_of(g) for g in grants):
        return granted, None
    closer = PlanCreditCloser(
        {sub.id: sub for sub in subscriptions}, plans, grants, lambda: new_id("rc"), now
    )
    return granted, closer

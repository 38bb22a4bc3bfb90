"""Plan credits in a billing run: the grants due as of the run, and the closer of periods.

The rules are ``domain.credits.plan_credits``'s. Plan grants' ids start ``pc_``, their
rollovers' ``rc_``: a period's plan grant and the rollover into it share priority and
expiry, and a rollover is never older, so the plan grant is drawn first either way. ``plan_credits`` is called by the
billing run for one account inside its unit of work: it returns the plan grants of the
periods started by ``as_of`` that are not written yet, and a ``PlanCreditCloser`` that
``services.credits.apply_to_drafts`` calls after each final invoice draws (expiries and
rollovers of that invoice's period). ``billing.runs._write_credits`` writes both with
the invoices, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tallybook.domain.billing.schedule import Plans, plan_for
from tallybook.domain.credits.ledger import Grant
from tallybook.domain.credits.plan_credits import (
    PLAN,
    PlanCreditCloser,
    due_plan_grants,
    group_of,
)
from tallybook.domain.ids import new_id
from tallybook.domain.subscriptions.model import Subscription
from tallybook.services.ports import AccountState


@dataclass(frozen=True, slots=True)
class PlanCredits:
    """One account's plan credits in a run: grants written now, and the period closer."""

    granted: list[Grant]
    closer: PlanCreditCloser | None


def plan_credits(
    state: AccountState,
    subscriptions: Sequence[Subscription],
    billed_through: Mapping[str, datetime | None],
    plans: Plans,
    as_of: datetime,
    now: datetime,
) -> PlanCredits | None:
    """The account's plan credits due as of ``as_of`` (None when it has none at all)."""
    stored = [grant for grant, _ in state.credits]
    offered = any(
        plan_for(plans, phase.plan).credit_grants for sub in subscriptions for phase in sub.phases
    )
    if not offered and not any(group_of(g) for g in stored):
        return None
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
    closer = None
    if any(group_of(g) for g in grants):
        closer = PlanCreditCloser(
            {sub.id: sub for sub in subscriptions}, plans, grants, lambda: new_id("rc"), now
        )
    if not granted and closer is None:
        return None
    return PlanCredits(granted, closer)

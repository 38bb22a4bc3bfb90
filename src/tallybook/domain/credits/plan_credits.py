"""Plan credits: a plan's ``credit_grant`` charges granted each period, and their rollover (pure).

CONTRACT.md Part 2, "Credits", Plan credits. A charge ``{key, type: credit_grant, amount,
priority, applies_to, rollover: {max, min}}`` grants ``amount`` (promotional, not billed)
at each billing period's start, valid over the period ``[start, end)``.

- **Granting** (``due_plan_grants``): a billing run as of ``as_of`` writes the grant of
  every period that has started by then and is not final yet (the plan in force at the
  period's start decides), once per (subscription, charge, period start).
- **Closing and rollover** (``PlanCreditCloser``): when the invoice billing a period is
  finalized (and has drawn), that period's plan-credit grants of each charge (its grant
  and any grant rolled into it) are closed: their rest is an ``expiry`` entry at the
  period end, and, when the charge has a ``rollover``, a grant of ``min(max, max(min,
  remaining))`` for the next period is written with a ``rollover`` entry (nothing when
  that is 0 or the subscription has no next period). Closing at finalization makes the
  result the same whether periods are billed one run at a time or several in one run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.period_lines import Plans, plan_for
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.catalog.model import CreditGrantCharge
from tallybook.domain.credits.ledger import (
    AppliesTo,
    Category,
    Entry,
    EntryType,
    Grant,
    draw_order,
)
from tallybook.domain.money import format_decimal
from tallybook.domain.subscriptions.model import Subscription

ZERO = Decimal(0)
PLAN, ROLLOVER = "plan", "rollover"
GroupKey = tuple[str, str, datetime]  # subscription, charge, period start
InvoiceKey = tuple[SlotKind, datetime, datetime]  # ``InvoiceDraft.key``


def group_of(grant: Grant) -> GroupKey | None:
    """The (subscription, charge, period start) a plan credit or its rollover belongs to."""
    if grant.source not in (PLAN, ROLLOVER) or grant.subscription is None or grant.charge is None:
        return None
    return (grant.subscription, grant.charge, grant.effective_at)


def plan_credit_grant(
    charge: CreditGrantCharge,
    subscription: Subscription,
    account: str,
    period: tuple[datetime, datetime],
    grant_id: str,
    now: datetime,
    *,
    amount: Decimal | None = None,
) -> Grant:
    """The promotional grant of ``charge`` for ``period`` (``amount`` given: a rollover)."""
    rolled = amount is not None
    value = charge.amount if amount is None else amount
    name = charge.name or charge.key
    return Grant(
        id=grant_id,
        customer=account,
        currency=subscription.currency,
        amount=value,
        category=Category.PROMOTIONAL,
        priority=charge.priority,
        effective_at=period[0],
        expires_at=period[1],
        applies_to=AppliesTo(charge.applies_to, charge.applies_to_charges),
        created_at=now,
        description=(
            f"{name}: {format_decimal(value)} rolled over" if rolled else f"{name} (plan credits)"
        ),
        source=ROLLOVER if rolled else PLAN,
        subscription=subscription.id,
        charge=charge.key,
    )


def due_plan_grants(
    subscription: Subscription,
    plans: Plans,
    billed_through: datetime | None,
    as_of: datetime,
    known: set[GroupKey],
    account: str,
    new_id: Callable[[], str],
    now: datetime,
) -> list[Grant]:
    """The plan grants of the periods started by ``as_of`` and not final, not yet in ``known``
    ((subscription, charge, period start) of the plan grants already written)."""
    grants = []
    for period in subscription.periods():
        if period.start > as_of:
            break
        if billed_through is not None and period.end <= billed_through:
            continue
        plan = plan_for(plans, subscription.phase_at(period.start).plan)
        for charge in plan.credit_grants:
            if (subscription.id, charge.key, period.start) in known:
                continue
            grants.append(
                plan_credit_grant(
                    charge, subscription, account, (period.start, period.end), new_id(), now
                )
            )
    return grants


class PlanCreditCloser:
    """Closes a period's plan credits when its invoice is final (``services.credits.
    apply_to_drafts`` calls it after each final draft draws): ``entries`` holds the
    ``expiry`` and ``rollover`` entries by the key of the draft whose finalization wrote
    them, ``grants`` the rollover grants."""

    def __init__(
        self,
        subscriptions: Mapping[str, Subscription],
        plans: Plans,
        grants: Sequence[Grant],
        new_id: Callable[[], str],
        now: datetime,
    ):
        self._subscriptions = subscriptions
        self._plans = plans
        self._groups: dict[GroupKey, list[Grant]] = {}
        for grant in grants:
            self._add(grant)
        self._new_id = new_id
        self._now = now
        self.entries: dict[InvoiceKey, list[Entry]] = {}
        self.grants: list[Grant] = []

    def _add(self, grant: Grant) -> None:
        key = group_of(grant)
        if key is not None:
            self._groups.setdefault(key, []).append(grant)

    def __call__(self, draft: InvoiceDraft, left: dict[str, Decimal]) -> list[Grant]:
        """Close the plan credits of the periods ``draft`` finalizes; draws from ``left``
        in place (expired rests to 0, rollovers added); returns the rollover grants."""
        created = []
        for sid, kind, start in draft.slots:
            if kind is not SlotKind.PERIOD:
                continue
            for (group_sub, _charge, group_start), members in list(self._groups.items()):
                if group_sub != sid or group_start != start:
                    continue
                rolled = self._close(
                    members, left, self.entries.setdefault(draft.key, []), draft.period_end
                )
                if rolled is not None:
                    self._add(rolled)
                    left[rolled.id] = rolled.amount
                    created.append(rolled)
        return created

    def _close(
        self, members: list[Grant], left: dict[str, Decimal], entries: list[Entry], end: datetime
    ) -> Grant | None:
        """Expire the group's rests (at its period's end, or the invoice's when the
        subscription ended first) and write the rollover into the next period."""
        remaining = sum((max(left.get(g.id, ZERO), ZERO) for g in members), ZERO)
        for grant in sorted(members, key=draw_order):
            rest = left.get(grant.id, ZERO)
            if rest > 0 and grant.expires_at is not None:
                at = min(grant.expires_at, end)
                entries.append(Entry(grant.id, EntryType.EXPIRY, -rest, at))
                left[grant.id] = ZERO
        first = min(members, key=draw_order)
        subscription = self._subscriptions.get(first.subscription or "")
        period_end = first.expires_at
        if subscription is None or period_end is None:
            return None
        plan = plan_for(self._plans, subscription.phase_at(first.effective_at).plan)
        charge = next((c for c in plan.credit_grants if c.key == first.charge), None)
        following = subscription.period_at(period_end)
        if charge is None or charge.rollover is None or following is None:
            return None
        if following.start != period_end:
            return None
        amount = charge.rollover.carried(remaining)
        if amount <= 0:
            return None
        grant = plan_credit_grant(
            charge,
            subscription,
            first.customer,
            (following.start, following.end),
            self._new_id(),
            self._now,
            amount=amount,
        )
        self.grants.append(grant)
        entries.append(Entry(grant.id, EntryType.ROLLOVER, amount, grant.effective_at))
        return grant

"""From subscriptions to invoice drafts for one bill-to customer (pure).

An *account* is a bill-to customer: a customer without a parent, with its own
subscriptions and those of its children. Each due slot (``schedule.slots``) of each
subscription becomes lines; slots of the same kind and period are one invoice, so a
child's lines sit on its parent's invoice, grouped by child (the parent's own first,
then each child's in id order).

A ``period`` slot's lines, in order: prorations of changes, in-arrears fees, usage and
the true-up of the closed period; the next period's in-advance fees; adjustments for
late usage in earlier final periods; discounts. ``billed_through`` (per subscription)
says which slots are final and must not be computed again.

Late usage of an *ended* subscription (its last invoice final) has no next invoice of
its own: it is billed on the account's next ``period`` invoice of another subscription
(a re-subscription, a child's) issued within its look-back window, else on the ended
subscription's own ``adjustment`` slot for that window (``adjustments.late_usage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tallybook.domain.billing.adjustments import Ledger, adjustable_periods, adjustments, late_usage
from tallybook.domain.billing.discounts import discount_lines
from tallybook.domain.billing.invoice import InvoiceDraft
from tallybook.domain.billing.lines import Line
from tallybook.domain.billing.period_lines import (
    Plans,
    UsageData,
    UsageQuery,
    advance_lines,
    period_lines,
    usage_queries,
)
from tallybook.domain.billing.schedule import ADJUSTMENT_LOOKBACK as ADJUSTMENT_LOOKBACK
from tallybook.domain.billing.schedule import Slot, SlotKind, slots
from tallybook.domain.subscriptions.model import Subscription


@dataclass(frozen=True, slots=True)
class Account:
    customer: str
    currency: str
    subscriptions: tuple[Subscription, ...]
    billed_through: Mapping[str, datetime | None] = field(default_factory=dict)


def due_slots(account: Account, plans: Plans, as_of: datetime) -> list[tuple[Subscription, Slot]]:
    """Every slot issued at or before ``as_of`` that is not final yet."""
    due = []
    for subscription in account.subscriptions:
        through = account.billed_through.get(subscription.id)
        for slot in slots(subscription, plans, as_of):
            if through is None or slot.issue_at > through:
                due.append((subscription, slot))
    return due


def slot_usage_queries(
    subscription: Subscription, slot: Slot, plans: Plans, through: datetime | None
) -> list[UsageQuery]:
    """The usage a slot needs: its period's, and the earlier periods' it may adjust."""
    if slot.kind is SlotKind.OPENING:
        return []
    queries = []
    if slot.kind is SlotKind.PERIOD:
        queries = usage_queries(subscription, slot.period, plans)
    for earlier in adjustable_periods(subscription, slot.period):
        queries += usage_queries(subscription, earlier, plans)
    return queries


def account_drafts(
    account: Account,
    plans: Plans,
    usage: Mapping[str, UsageData],
    ledger: Ledger,
    as_of: datetime,
) -> list[InvoiceDraft]:
    """The drafts of every due, non-final slot of the account, as of ``as_of``."""
    computed: list[tuple[Subscription, Slot, Sequence[Line]]] = []
    due = due_slots(account, plans, as_of)
    for subscription, slot in due:
        if slot.kind is SlotKind.ADJUSTMENT:
            continue  # filled by late_usage, once every period is computed
        data = usage.get(subscription.customer, {})
        through = account.billed_through.get(subscription.id)
        lines = slot_lines(subscription, slot, plans, data, ledger, through)
        computed.append((subscription, slot, lines))
    computed += late_usage(account.subscriptions, account.billed_through, due, plans, usage, ledger)
    return assemble(account.customer, account.currency, computed)


def slot_lines(
    subscription: Subscription,
    slot: Slot,
    plans: Plans,
    usage: UsageData,
    ledger: Ledger,
    billed_through: datetime | None = None,
) -> list[Line]:
    """The lines of one slot; records them in ``ledger`` for later slots of the run."""
    period = slot.period
    if slot.kind is SlotKind.OPENING:
        advance = advance_lines(subscription, period, plans)
        return [*advance, *discount_lines(subscription, period, advance, [])]
    current = period_lines(subscription, period, plans, usage)
    lines = current.at_close
    discounts = discount_lines(subscription, period, lines, current.advance)
    following = subscription.next_period(period)
    if following is not None:
        advance = advance_lines(subscription, following, plans)
        lines = [*lines, *advance]
        discounts += discount_lines(subscription, following, advance, [])
    ledger.add(subscription.id, period.start, current.at_close)
    late = adjustments(subscription, period, plans, usage, ledger, billed_through)
    return [*lines, *late, *discounts]


def assemble(
    bill_to: str,
    currency: str,
    computed: Sequence[tuple[Subscription, Slot, Sequence[Line]]],
) -> list[InvoiceDraft]:
    """Group slot lines into one draft per (kind, period); bill-to's lines first."""
    groups: dict[
        tuple[SlotKind, datetime, datetime], list[tuple[Subscription, Slot, Sequence[Line]]]
    ] = {}
    for entry in computed:
        _, slot, _ = entry
        groups.setdefault((slot.kind, slot.period.start, slot.period.end), []).append(entry)
    drafts = []
    for (kind, start, end), entries in sorted(
        groups.items(), key=lambda g: (g[0][2], g[0][1], g[0][0])
    ):
        entries.sort(
            key=lambda e: (
                e[0].customer != bill_to,
                e[0].customer,
                e[1].subscription != e[0].id,  # late usage carried for another, after
                e[0].id,
            )
        )
        lines = tuple(
            item.owned_by(subscription.customer, subscription.id)
            for subscription, _, items in entries
            for item in items
        )
        slot_keys = tuple(dict.fromkeys(slot.key for _, slot, _ in entries))
        issue_at = entries[0][1].issue_at
        drafts.append(InvoiceDraft(bill_to, currency, kind, start, end, issue_at, lines, slot_keys))
    return drafts

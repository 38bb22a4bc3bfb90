"""From subscriptions to invoice drafts for one bill-to customer (pure).

An *account* is a bill-to customer: a customer without a parent, with its own
subscriptions and those of its children. Each due slot (``billing.slots``) of each
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
subscription's own ``adjustment`` slot for that window (``_late_usage``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tallybook.domain.billing import ADJUSTMENT_LOOKBACK as ADJUSTMENT_LOOKBACK
from tallybook.domain.billing import (
    Plans,
    Slot,
    SlotKind,
    UsageData,
    UsageQuery,
    advance_lines,
    period_lines,
    slots,
    trailing_periods,
    usage_queries,
)
from tallybook.domain.invoices import (
    Billed,
    InvoiceDraft,
    InvoiceLine,
    adjustment_lines,
    billed_by_charge,
    discount_lines,
)
from tallybook.domain.rating import LineItem
from tallybook.domain.subscriptions import BillingPeriod, Subscription

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Ledger:
    """What was billed for usage per (subscription, period start), per charge.

    Loaded from final invoices; the lines computed during a run are added as they are
    made, so one late event is adjusted on one invoice only.
    """

    billed: dict[tuple[str, datetime], dict[str, Billed]] = field(default_factory=dict)

    def add(
        self, subscription: str, period_start: datetime, lines: Sequence[LineItem | InvoiceLine]
    ) -> None:
        entry = self.billed.setdefault((subscription, period_start), {})
        for charge, amount in billed_by_charge(lines).items():
            entry[charge] = entry.get(charge, Billed()) + amount

    def get(self, subscription: str, period_start: datetime) -> dict[str, Billed] | None:
        return self.billed.get((subscription, period_start))


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
    for earlier in _adjustable(subscription, slot.period):
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
    computed: list[tuple[Subscription, Slot, Sequence[LineItem]]] = []
    due = due_slots(account, plans, as_of)
    for subscription, slot in due:
        if slot.kind is SlotKind.ADJUSTMENT:
            continue  # filled by _late_usage, once every period is computed
        data = usage.get(subscription.customer, {})
        through = account.billed_through.get(subscription.id)
        lines = slot_lines(subscription, slot, plans, data, ledger, through)
        computed.append((subscription, slot, lines))
    computed += _late_usage(account, due, plans, usage, ledger)
    return assemble(account.customer, account.currency, computed)


def _late_usage(
    account: Account,
    due: Sequence[tuple[Subscription, Slot]],
    plans: Plans,
    usage: Mapping[str, UsageData],
    ledger: Ledger,
) -> list[tuple[Subscription, Slot, Sequence[LineItem]]]:
    """Adjustments for late usage of the account's ended subscriptions, each on its
    *carrier*: the first due slot, in issue order, among the ``period`` slots of the
    account's other subscriptions issued after the end and within the window, and the
    ended subscription's own ``adjustment`` slots (an own slot comes after another
    subscription's invoice issued at the same time). A carrier issued in the window
    of trailing period ``k`` recomputes what a ``period`` slot of index ``n + k`` would
    (``ADJUSTMENT_LOOKBACK`` periods back); the ledger bills each difference once."""
    computed: list[tuple[Subscription, Slot, Sequence[LineItem]]] = []
    for ended in account.subscriptions:
        windows = trailing_periods(ended)
        if not windows or ended.end is None:
            continue
        first, last = ended.end, windows[-1].end
        carriers = [
            (slot.issue_at, slot.kind is SlotKind.ADJUSTMENT, slot)
            for sub, slot in due
            if (sub.id == ended.id and slot.kind is SlotKind.ADJUSTMENT)
            or (
                sub.id != ended.id
                and slot.kind is SlotKind.PERIOD
                and first < slot.issue_at <= last
            )
        ]
        through = account.billed_through.get(ended.id)
        data = usage.get(ended.customer, {})
        for issue_at, _, slot in sorted(carriers, key=lambda c: (c[0], c[1], c[2].subscription)):
            window = next(w for w in windows if issue_at <= w.end)
            lines = _adjustments(ended, window, plans, data, ledger, through)
            if lines:
                computed.append((ended, slot, lines))
    return computed


def late_window_start(
    subscription: Subscription, billed_through: datetime | None
) -> datetime | None:
    """Start of the earliest period of an ended subscription whose late usage may still
    be billed (None: it has not ended, or its last adjustment slot is final)."""
    windows = trailing_periods(subscription)
    if not windows or (billed_through is not None and billed_through >= windows[-1].end):
        return None
    return lookback_start(subscription, windows[0])


def late_usage_queries(
    subscription: Subscription, plans: Plans, billed_through: datetime | None
) -> list[UsageQuery]:
    """The usage an ended subscription's late-usage adjustments need while its window is
    open (for carriers of other subscriptions); empty otherwise."""
    windows = trailing_periods(subscription)
    if late_window_start(subscription, billed_through) is None:
        return []
    return [
        query
        for earlier in _adjustable(subscription, windows[0])
        for query in usage_queries(subscription, earlier, plans)
    ]


def slot_lines(
    subscription: Subscription,
    slot: Slot,
    plans: Plans,
    usage: UsageData,
    ledger: Ledger,
    billed_through: datetime | None = None,
) -> list[LineItem]:
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
    adjustments = _adjustments(subscription, period, plans, usage, ledger, billed_through)
    return [*lines, *adjustments, *discounts]


def lookback_start(subscription: Subscription, period: BillingPeriod) -> datetime | None:
    """The start of the earliest period a slot of ``period`` may adjust (None: none)."""
    earlier = _adjustable(subscription, period)
    return earlier[0].start if earlier else None


def ledger_from_lines(
    subscriptions: Sequence[Subscription], lines: Sequence[InvoiceLine]
) -> Ledger:
    """A ledger of what final invoices billed, per subscription and billing period."""
    ledger = Ledger()
    by_sub: dict[str, list[InvoiceLine]] = {}
    for line in lines:
        if line.subscription is not None and line.period_start is not None:
            by_sub.setdefault(line.subscription, []).append(line)
    for subscription in subscriptions:
        mine = sorted(by_sub.get(subscription.id, []), key=lambda x: x.period_start or _EPOCH)
        if not mine:
            continue
        last = mine[-1].period_start or _EPOCH
        starts = []
        for period in subscription.periods():
            if period.start > last:
                break
            starts.append(period.start)
        for line in mine:
            index = bisect_right(starts, line.period_start or _EPOCH) - 1
            if index >= 0:
                ledger.add(subscription.id, starts[index], [line])
    return ledger


def _adjustable(subscription: Subscription, period: BillingPeriod) -> list[BillingPeriod]:
    first = max(0, period.index - ADJUSTMENT_LOOKBACK)
    earlier = []
    for candidate in subscription.periods():
        if candidate.index >= period.index:
            break
        if candidate.index >= first:
            earlier.append(candidate)
    return earlier


def _adjustments(
    subscription: Subscription,
    period: BillingPeriod,
    plans: Plans,
    usage: UsageData,
    ledger: Ledger,
    billed_through: datetime | None,
) -> list[LineItem]:
    lines: list[LineItem] = []
    for earlier in _adjustable(subscription, period):
        billed = ledger.get(subscription.id, earlier.start)
        final = billed_through is not None and earlier.end <= billed_through
        if billed is None and not final:
            continue
        recomputed = period_lines(subscription, earlier, plans, usage)
        made = adjustment_lines(
            earlier,
            [*recomputed.usage, *_opt(recomputed.true_up)],
            billed or {},
            subscription.currency,
        )
        ledger.add(subscription.id, earlier.start, made)
        lines += made
    return lines


def _opt(line: LineItem | None) -> list[LineItem]:
    return [] if line is None else [line]


def assemble(
    bill_to: str,
    currency: str,
    computed: Sequence[tuple[Subscription, Slot, Sequence[LineItem]]],
) -> list[InvoiceDraft]:
    """Group slot lines into one draft per (kind, period); bill-to's lines first."""
    groups: dict[
        tuple[SlotKind, datetime, datetime], list[tuple[Subscription, Slot, Sequence[LineItem]]]
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
            InvoiceLine.of(item, subscription.customer, subscription.id)
            for subscription, _, items in entries
            for item in items
        )
        slot_keys = tuple(dict.fromkeys(slot.key for _, slot, _ in entries))
        issue_at = entries[0][1].issue_at
        drafts.append(InvoiceDraft(bill_to, currency, kind, start, end, issue_at, lines, slot_keys))
    return drafts

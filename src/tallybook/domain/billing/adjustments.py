"""Late-event adjustments: usage that arrives after its period was finalized.

A final invoice never changes. When a period's invoice is computed, the earlier final
periods of the same subscription (up to ``ADJUSTMENT_LOOKBACK`` of them) are recomputed
from the events stored now; for each charge whose usage (or minimum-spend true-up)
differs from what was billed (``Ledger``, loaded from the final invoices' lines), the
new invoice carries one ``adjustment`` line with the difference, never the whole
(``adjustment_lines``). The lines made during a run are added to the ledger as they are
made, so one late event is adjusted on one invoice only. A billing run reads final lines
back to ``lookback_start`` (documented in docs/billing.md). Late usage of an *ended*
subscription is billed on a carrier invoice (``late_usage``) within its trailing window
(``late_window_start``, ``late_usage_queries``). The look-back itself,
``ADJUSTMENT_LOOKBACK``, is defined with the schedule (``schedule.trailing_periods``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from tallybook.domain.billing.lines import Line, LineType
from tallybook.domain.billing.period_lines import (
    Plans,
    UsageData,
    UsageQuery,
    period_lines,
    usage_queries,
)
from tallybook.domain.billing.schedule import ADJUSTMENT_LOOKBACK, Slot, SlotKind, trailing_periods
from tallybook.domain.money import format_decimal, round_amount
from tallybook.domain.subscriptions.model import BillingPeriod, Subscription

ZERO = Decimal(0)
ADJUSTABLE = (LineType.USAGE, LineType.TRUE_UP, LineType.ADJUSTMENT)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Ledger:
    """What was billed for usage per (subscription, period start), per charge.

    Loaded from final invoices; the lines computed during a run are added as they are
    made, so one late event is adjusted on one invoice only.
    """

    billed: dict[tuple[str, datetime], dict[str, Billed]] = field(default_factory=dict)

    def add(self, subscription: str, period_start: datetime, lines: Sequence[Line]) -> None:
        entry = self.billed.setdefault((subscription, period_start), {})
        for charge, amount in billed_by_charge(lines).items():
            entry[charge] = entry.get(charge, Billed()) + amount

    def get(self, subscription: str, period_start: datetime) -> dict[str, Billed] | None:
        return self.billed.get((subscription, period_start))


@dataclass(frozen=True, slots=True)
class Billed:
    amount: Decimal = ZERO
    quantity: Decimal = ZERO

    def __add__(self, other: Billed) -> Billed:
        return Billed(self.amount + other.amount, self.quantity + other.quantity)


def billed_by_charge(lines: Iterable[Line]) -> dict[str, Billed]:
    """What was billed per charge for usage (usage, true-up and adjustment lines)."""
    billed: dict[str, Billed] = {}
    for line in lines:
        if line.type in ADJUSTABLE:
            billed[line.charge] = billed.get(line.charge, Billed()) + Billed(
                line.amount, line.quantity
            )
    return billed


def adjustment_lines(
    period: BillingPeriod,
    recomputed: Sequence[Line],
    billed: Mapping[str, Billed],
    currency: str,
) -> list[Line]:
    """One ``adjustment`` line per charge whose recomputed usage (or true-up) for a final
    ``period`` differs from what was billed for it: the difference, never the whole."""
    now = billed_by_charge(recomputed)
    names = {line.charge: line.description.partition(":")[0] for line in recomputed}
    lines = []
    for charge in sorted(set(now) | set(billed)):
        new, old = now.get(charge, Billed()), billed.get(charge, Billed())
        delta = round_amount(new.amount - old.amount, currency)
        if delta == 0:
            continue
        span = f"{period.start.date().isoformat()} to {period.end.date().isoformat()}"
        units = new.quantity - old.quantity
        lines.append(
            Line(
                type=LineType.ADJUSTMENT,
                charge=charge,
                description=(
                    f"Adjustment for {span} ({names.get(charge, charge)}): late usage, "
                    f"{_signed(units)} billable units, billed {format_decimal(old.amount)}, "
                    f"now {format_decimal(new.amount)}"
                ),
                quantity=units,
                unit_amount=None,
                amount=delta,
                period_start=period.start,
                period_end=period.end,
            )
        )
    return lines


def _signed(value: Decimal) -> str:
    text = format_decimal(value.normalize() if value != value.to_integral_value() else value)
    return text if value < 0 else f"+{text}"


def lookback_start(subscription: Subscription, period: BillingPeriod) -> datetime | None:
    """The start of the earliest period a slot of ``period`` may adjust (None: none)."""
    earlier = adjustable_periods(subscription, period)
    return earlier[0].start if earlier else None


def ledger_from_lines(subscriptions: Sequence[Subscription], lines: Sequence[Line]) -> Ledger:
    """A ledger of what final invoices billed, per subscription and billing period."""
    ledger = Ledger()
    by_sub: dict[str, list[Line]] = {}
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


def adjustable_periods(subscription: Subscription, period: BillingPeriod) -> list[BillingPeriod]:
    """The earlier periods (at most ``ADJUSTMENT_LOOKBACK``) a slot of ``period`` recomputes."""
    first = max(0, period.index - ADJUSTMENT_LOOKBACK)
    earlier = []
    for candidate in subscription.periods():
        if candidate.index >= period.index:
            break
        if candidate.index >= first:
            earlier.append(candidate)
    return earlier


def adjustments(
    subscription: Subscription,
    period: BillingPeriod,
    plans: Plans,
    usage: UsageData,
    ledger: Ledger,
    billed_through: datetime | None,
) -> list[Line]:
    """Adjustment lines, on the invoice of ``period``, for late usage in the earlier
    final periods it may adjust (``ADJUSTMENT_LOOKBACK``); ``ledger`` gains them."""
    lines: list[Line] = []
    for earlier in adjustable_periods(subscription, period):
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


def _opt(line: Line | None) -> list[Line]:
    return [] if line is None else [line]


def late_usage(
    subscriptions: Sequence[Subscription],
    billed_through: Mapping[str, datetime | None],
    due: Sequence[tuple[Subscription, Slot]],
    plans: Plans,
    usage: Mapping[str, UsageData],
    ledger: Ledger,
) -> list[tuple[Subscription, Slot, Sequence[Line]]]:
    """Adjustments for late usage of an account's ended subscriptions, each on its
    *carrier*: the first due slot, in issue order, among the ``period`` slots of the
    account's other subscriptions issued after the end and within the window, and the
    ended subscription's own ``adjustment`` slots (an own slot comes after another
    subscription's invoice issued at the same time). A carrier issued in the window
    of trailing period ``k`` recomputes what a ``period`` slot of index ``n + k`` would
    (``ADJUSTMENT_LOOKBACK`` periods back); the ledger bills each difference once."""
    computed: list[tuple[Subscription, Slot, Sequence[Line]]] = []
    for ended in subscriptions:
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
        through = billed_through.get(ended.id)
        data = usage.get(ended.customer, {})
        for issue_at, _, slot in sorted(carriers, key=lambda c: (c[0], c[1], c[2].subscription)):
            window = next(w for w in windows if issue_at <= w.end)
            lines = adjustments(ended, window, plans, data, ledger, through)
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
        for earlier in adjustable_periods(subscription, windows[0])
        for query in usage_queries(subscription, earlier, plans)
    ]

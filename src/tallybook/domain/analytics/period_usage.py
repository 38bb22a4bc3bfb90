"""Per-period usage as billed: the summary usage percentiles and the allowance model read.

The rule, in one place (docs/analytics.md, "Where the usage comes from"): when a
``period`` invoice is finalized, each subscription on it gets, for the billing period the
invoice closes (``[period_start, period_end)``), one **marker** row (charge ``""``: the
period is summarized) and one row per usage charge with the charge's ``usage`` lines of
that period on the invoice: ``used`` (the sum of the lines' ``used``: what rating
measured, after dimension filters and meter weights), ``amount`` (the sum of their
amounts), the number of lines and, for a single plain line (no dimension, no rollover),
its ``included`` and service period. Those lines are the period's usage lines exactly
(``PeriodLines.usage``: the next period's in-advance fees, discounts and adjustments
of earlier periods are other line types), computed by the billing engine from the events
stored when it finalized.

A period that a **late-event adjustment** corrects has its rows **removed**
(``stale_periods``) as soon as a billing run writes the adjustment, on a draft already:
readers then rate that period from the events again, as the adjustment did. So the
summary is exact up to the last billing run: events of a summarized period that arrived
after the last run (or too late for the adjustment look-back, which bills them never)
are not in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

MARKER = ""  # the charge key of the row saying "this period is summarized"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    """One (subscription, billing period, charge) of a final period invoice.

    ``used`` and ``amount`` are exact decimals (``amount`` in the currency's minor unit,
    as billed); ``lines`` counts the charge's usage lines; ``included``, ``span_start``
    and ``span_end`` are set only when the charge has one plain line (no dimension, no
    rollover, a measured ``used``), else None. The marker row (``charge == MARKER``)
    has zeros and no line.
    """

    subscription: str
    period_start: datetime
    period_end: datetime
    customer: str
    charge: str
    used: Decimal
    amount: Decimal
    lines: int
    included: Decimal | None
    span_start: datetime | None
    span_end: datetime | None

    @property
    def plain(self) -> bool:
        """One plain line (its span and allowance known)."""
        return self.included is not None


def _instant(text: Any) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def period_usage(
    lines: Iterable[Mapping[str, Any]],
    invoice_customer: str,
    period_start: datetime,
    period_end: datetime,
) -> list[PeriodUsage]:
    """The summary rows of one final ``period`` invoice closing ``[period_start,
    period_end)``; ``lines`` in the stored shape (``line_to_dict``). Lines without a
    subscription are not attributable to a schedule and are left out (so is a
    subscription with none)."""
    by_sub: dict[str, str] = {}  # subscription -> line customer
    usage: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for line in lines:
        subscription = line.get("subscription")
        if subscription is None:
            continue
        customer = line.get("customer")
        by_sub.setdefault(str(subscription), invoice_customer if customer is None else customer)
        if line.get("type") != "usage":
            continue
        start = _instant(line.get("period_start"))
        if start is None or not period_start <= start < period_end:
            continue
        usage.setdefault((str(subscription), str(line.get("charge"))), []).append(line)
    rows = [
        PeriodUsage(sub, period_start, period_end, customer, MARKER, ZERO, ZERO, 0, *_NO_LINE)
        for sub, customer in by_sub.items()
    ]
    for (sub, charge), found in usage.items():
        used = sum((_decimal(line.get("used")) or ZERO for line in found), ZERO)
        amount = sum((Decimal(str(line["amount"])) for line in found), ZERO)
        single = found[0] if len(found) == 1 else None
        plain = (
            single is not None
            and single.get("dimension") is None
            and single.get("rolled_over") is None
            and single.get("used") is not None
            and single.get("included") is not None
        )
        extra = (
            (
                _decimal(single.get("included")),
                _instant(single.get("period_start")),
                _instant(single.get("period_end")),
            )
            if plain and single is not None
            else _NO_LINE
        )
        rows.append(
            PeriodUsage(
                sub, period_start, period_end, by_sub[sub], charge, used, amount, len(found), *extra
            )
        )
    return rows


_NO_LINE: tuple[None, None, None] = (None, None, None)


def stale_periods(lines: Iterable[Mapping[str, Any]]) -> set[tuple[str, datetime]]:
    """(subscription, corrected instant) of every late-event ``adjustment`` line of a
    final invoice: the summary rows of the billing period holding that instant are
    removed, so readers rate it from the events again."""
    found: set[tuple[str, datetime]] = set()
    for line in lines:
        if line.get("type") != "adjustment":
            continue
        subscription, start = line.get("subscription"), _instant(line.get("period_start"))
        if subscription is not None and start is not None:
            found.add((str(subscription), start))
    return found

"""The revenue recognition export (``GET /v1/analytics/revenue-recognition[.csv]``).

For the months ``from``-``to`` (at most ``MAX_MONTHS``): every line of every final
invoice (finalized or paid; void ones owe nothing) and every credit-note line, spread
over its service period by ``domain.finance.revenue.recognize``, one row per (line,
month) inside the window (lines of zero amount give none). The rows of one line over all
months add up to the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tallybook.domain.analytics.months import Month, month_range
from tallybook.domain.billing.invoice import Invoice
from tallybook.domain.finance.credit_notes import CreditNote
from tallybook.domain.finance.revenue import recognize
from tallybook.domain.periods import load_zone
from tallybook.services.ports import RevenueSource

MAX_ROWS = 100_000
MARGIN = timedelta(days=400)  # lines bill periods at most about a year off their invoice's


@dataclass(frozen=True, slots=True)
class RevenueRow:
    month: str
    invoice: str
    number: str | None
    customer: str
    currency: str
    line: int
    source: str  # "invoice" or the credit note's number
    type: str
    charge: str
    description: str
    service_start: datetime
    service_end: datetime
    line_amount: Decimal
    recognized: Decimal


class RevenueService:
    def __init__(self, source: RevenueSource):
        self._source = source

    def recognition(self, tenant_id: str, first: Month, last: Month) -> list[RevenueRow]:
        """Rows (month, then invoice number, then line) for ``first``..``last``.
        ValidationError ``invalid_window``, ``window_too_long`` (``month_range``)."""
        months = {str(m) for m in month_range(first, last)}
        invoices, notes, zones = self._source.revenue_data(
            tenant_id, first.start - MARGIN, last.end + MARGIN
        )
        rows = [row for inv in invoices for row in _invoice_rows(inv, zones, months)]
        by_id = {inv.id: inv for inv in invoices}
        for note in notes:
            invoice = by_id.get(note.invoice)
            if invoice is not None:
                rows += _note_rows(note, invoice, zones, months)
        rows.sort(key=lambda r: (r.month, r.number or "", r.invoice, r.line, r.source))
        return rows[:MAX_ROWS]


def _zone(zones: Mapping[str, str], customer: str) -> ZoneInfo:
    return load_zone(zones.get(customer, "UTC"))


def _invoice_rows(invoice: Invoice, zones: Mapping[str, str], months: set[str]) -> list[RevenueRow]:
    zone = _zone(zones, invoice.customer)
    rows = []
    for index, line in enumerate(invoice.lines):
        if line.amount == 0:
            continue  # nothing to recognize (a period without usage)
        start = line.period_start or invoice.period_start
        end = line.period_end or invoice.period_end
        for share in recognize(line.amount, start, end, invoice.currency, zone):
            if share.month in months:
                rows.append(
                    RevenueRow(
                        share.month,
                        invoice.id,
                        invoice.display_number,
                        invoice.customer,
                        invoice.currency,
                        index,
                        "invoice",
                        line.type.value,
                        line.charge,
                        line.description,
                        start,
                        end,
                        line.amount,
                        share.amount,
                    )
                )
    return rows


def _note_rows(
    note: CreditNote, invoice: Invoice, zones: Mapping[str, str], months: set[str]
) -> Sequence[RevenueRow]:
    zone = _zone(zones, invoice.customer)
    rows = []
    for item in note.lines:
        line = invoice.lines[item.line]
        start = line.period_start or invoice.period_start
        end = line.period_end or invoice.period_end
        for share in recognize(-item.amount, start, end, invoice.currency, zone):
            if share.month in months:
                rows.append(
                    RevenueRow(
                        share.month,
                        invoice.id,
                        invoice.display_number,
                        invoice.customer,
                        invoice.currency,
                        item.line,
                        note.display_number,
                        "credit_note",
                        line.charge,
                        f"Credit note {note.display_number}: {note.reason}",
                        start,
                        end,
                        -item.amount,
                        share.amount,
                    )
                )
    return rows

"""Usage revenue of one invoice, the part of MRR that comes from invoices (docs/analytics.md).

The rule, in one place: an invoice's **usage revenue** is the sum of its ``usage`` and
``adjustment`` lines, per line customer (a child's lines are its own; a line without a
customer is the invoice customer's) and per UTC month (``YYYY-MM``) its service period
starts in (the first seven characters of the stored ``period_start``, which is always
UTC ``...Z``). Lines without a service period do not count. It counts in MRR only while
the invoice is final (``FINAL_STATUSES``: finalized or paid; never drafts or voids).

The store keeps these sums per invoice (``invoice_totals``), written when an invoice is
finalized and backfilled by migration ``0018_invoice_totals``, so MRR over many months is
a plain indexed aggregate instead of unpacking every invoice's lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

USAGE_REVENUE_TYPES = frozenset({"usage", "adjustment"})
FINAL_STATUSES = ("finalized", "paid")
RevenueKey = tuple[str, str]  # (line customer, month "YYYY-MM")


def usage_revenue(
    lines: Iterable[Mapping[str, Any]], invoice_customer: str
) -> dict[RevenueKey, Decimal]:
    """``lines`` in the stored shape (``domain.billing.lines.line_to_dict``) -> the sum of
    the usage and adjustment amounts per (line customer, month of the service period
    start). A key is present whenever at least one line counts, even when its sum is
    zero. Amounts are exact decimals (no rounding: the lines are already rounded)."""
    sums: dict[RevenueKey, Decimal] = {}
    for line in lines:
        if line.get("type") not in USAGE_REVENUE_TYPES:
            continue
        start = line.get("period_start")
        if start is None:
            continue
        customer = line.get("customer")
        key = (invoice_customer if customer is None else str(customer), str(start)[:7])
        amount = Decimal(str(line["amount"]))
        found = sums.get(key)
        sums[key] = amount if found is None else found + amount
    return sums

"""Gapless invoice numbering: which final invoices get which numbers, and how they read.

A number is given only when an invoice finalizes, never to a draft. The numbers of one
billing-run chunk come from the tenant's counter row, reserved in the chunk's own
transaction (``ports.BillingUnitOfWork.take_numbers``; ``adapters/store/billing_writes.py``
executes it): a rollback returns them, so per tenant the numbers run 1, 2, 3 ... without
gaps. Within a chunk they follow ``numbering_order``: by issue time, then customer, kind
and period start. Shown as ``INV-000042`` (``format_number``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tallybook.domain.billing.invoice import InvoiceDraft

NUMBER_PREFIX = "INV-"


def numbering_order(draft: InvoiceDraft) -> tuple[datetime, str, str, datetime]:
    """Final invoices of one chunk are numbered by issue time, customer, kind, period."""
    return (draft.issue_at, draft.customer, draft.kind.value, draft.period_start)


def format_number(number: int) -> str:
    """42 -> ``INV-000042``."""
    return f"{NUMBER_PREFIX}{number:06d}"


def parse_number(text: str) -> int | None:
    """``INV-000042`` or ``42`` -> 42; None when ``text`` is not an invoice number."""
    digits = text[len(NUMBER_PREFIX) :] if text.upper().startswith(NUMBER_PREFIX) else text
    return int(digits) if digits.isdigit() and len(digits) < 18 else None

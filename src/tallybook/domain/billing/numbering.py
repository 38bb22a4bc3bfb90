"""Gapless invoice numbering: which final invoices get which numbers, and how they read.

A number is given only when an invoice finalizes, never to a draft. The numbers of one
billing-run chunk come from the tenant's counter row, reserved in the chunk's own
transaction (``ports.BillingUnitOfWork.take_numbers``; ``adapters/store/billing_writes.py``
executes it): a rollback returns them, so per tenant the numbers run 1, 2, 3 ... without
gaps. Within a chunk they follow ``numbering_order``: by issue time, then customer, kind
and period start. Shown as ``INV-000042`` (``format_number``), or with the tenant's own
prefix (``ACME-2026-000042``: the seller profile's ``invoice_prefix`` as the invoice's
parties snapshot kept it at finalization, ``invoice_prefix``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tallybook.domain.billing.invoice import InvoiceDraft

NUMBER_PREFIX = "INV-"
# any prefix of the allowed characters that ends in a non-digit, then the digits
_NUMBER = re.compile(r"(?:[A-Za-z0-9._/-]{0,19}[A-Za-z._/-])?([0-9]{1,17})")


def numbering_order(draft: InvoiceDraft) -> tuple[datetime, str, str, datetime]:
    """Final invoices of one chunk are numbered by issue time, customer, kind, period."""
    return (draft.issue_at, draft.customer, draft.kind.value, draft.period_start)


def format_number(number: int, prefix: str | None = None) -> str:
    """42 -> ``INV-000042`` (or ``{prefix}000042``)."""
    return f"{prefix or NUMBER_PREFIX}{number:06d}"


def invoice_prefix(parties: Mapping[str, Any] | None) -> str | None:
    """The ``invoice_prefix`` a final invoice's parties snapshot kept (None: the default)."""
    seller = parties.get("seller") if isinstance(parties, Mapping) else None
    prefix = seller.get("invoice_prefix") if isinstance(seller, Mapping) else None
    return prefix if isinstance(prefix, str) and prefix else None


def parse_number(text: str) -> int | None:
    """``INV-000042``, ``ACME-2026-000042`` (any prefix a seller may set, which always ends
    in a non-digit) or ``42`` -> 42; None when ``text`` is not an invoice number."""
    found = _NUMBER.fullmatch(text)
    return None if found is None else int(found.group(1))

"""Invoices: the model, its totals and status rules (discounts: ``discounts``; late-usage
adjustments: ``adjustments``; numbers: ``numbering``).

``InvoiceDraft`` is what billing computes (never stored by itself: previews use it as
is); ``Invoice`` is a stored one with an id, a status and, once final, a number.

Totals (decided here, documented in docs/billing.md):

- ``subtotal``: the sum of every line except discounts and credits;
- ``discount_total``: the sum of the discount lines, shown as a positive amount;
- ``credits_applied``: prepaid credits drawn (``credit`` lines, ``domain.credits.ledger``), positive;
- ``tax_total``: the lines' taxes (``domain.finance.taxes``), inclusive and exclusive;
- ``total = subtotal - discount_total - credits_applied + exclusive taxes``: the sum of
  all lines plus the tax added on top (inclusive tax is already inside the amounts).

Every line amount is already rounded (``rating``); totals are sums of rounded lines.

Statuses: ``draft`` (recomputed by each billing run, no number) -> ``finalized``
(immutable, numbered) -> ``paid`` or ``void``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tallybook.domain.billing.lines import Line, LineType, line_to_dict
from tallybook.domain.billing.numbering import format_number, invoice_prefix
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.errors import Conflict
from tallybook.domain.money import round_amount

ZERO = Decimal(0)


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    VOID = "void"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    discount_total: Decimal
    credits_applied: Decimal
    total: Decimal
    tax_total: Decimal = ZERO


def totals(lines: Iterable[Line], currency: str) -> Totals:
    subtotal = discounts = credits = tax = added = round_amount(ZERO, currency)
    for line in lines:
        if line.type is LineType.DISCOUNT:
            discounts -= line.amount
        elif line.type is LineType.CREDIT:
            credits -= line.amount
        else:
            subtotal += line.amount
        if line.taxes:
            tax += line.tax_amount or ZERO
            added += line.exclusive_tax
    return Totals(subtotal, discounts, credits, subtotal - discounts - credits + added, tax)


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """A computed invoice for one bill-to customer and one period (not stored)."""

    customer: str
    currency: str
    kind: SlotKind
    period_start: datetime
    period_end: datetime
    issue_at: datetime
    lines: tuple[Line, ...]
    slots: tuple[tuple[str, SlotKind, datetime], ...] = ()
    tax_note: str | None = None  # an exempt or reverse-charge customer's note
    parties: Mapping[str, Any] | None = None  # seller and buyer, set when it finalizes
    totals: Totals = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "totals", totals(self.lines, self.currency))

    @property
    def key(self) -> tuple[SlotKind, datetime, datetime]:
        return (self.kind, self.period_start, self.period_end)

    @property
    def content_hash(self) -> str:
        """A digest of the lines: a draft is *updated* only when this changes."""
        return content_digest([line_to_dict(line) for line in self.lines])


@dataclass(frozen=True, slots=True)
class Invoice:
    """A stored invoice. ``number`` is set at finalization (gapless per tenant)."""

    id: str
    number: int | None
    status: InvoiceStatus
    customer: str
    currency: str
    kind: SlotKind
    period_start: datetime
    period_end: datetime
    issue_at: datetime
    lines: tuple[Line, ...]
    totals: Totals
    created_at: datetime
    updated_at: datetime
    finalized_at: datetime | None = None
    voided_at: datetime | None = None
    paid_at: datetime | None = None
    tax_note: str | None = None
    parties: Mapping[str, Any] | None = None  # the snapshot taken at finalization

    @property
    def display_number(self) -> str | None:
        if self.number is None:
            return None
        return format_number(self.number, invoice_prefix(self.parties))

    def voided(self, now: datetime) -> Invoice:
        self._require(InvoiceStatus.FINALIZED, "void")
        return replace(self, status=InvoiceStatus.VOID, voided_at=now, updated_at=now)

    def paid(self, now: datetime) -> Invoice:
        self._require(InvoiceStatus.FINALIZED, "pay")
        return replace(self, status=InvoiceStatus.PAID, paid_at=now, updated_at=now)

    def _require(self, status: InvoiceStatus, action: str) -> None:
        if self.status is not status:
            raise Conflict(
                f"cannot {action} a {self.status.value} invoice (it must be {status.value})",
                code="invalid_invoice_status",
                details={"status": self.status.value},
            )


def content_digest(documents: Sequence[Mapping[str, Any]]) -> str:
    """The digest of serialised lines (``line_to_dict``), as ``InvoiceDraft.content_hash``."""
    text = json.dumps(documents, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]

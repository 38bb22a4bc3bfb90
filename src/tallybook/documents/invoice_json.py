"""The contract's invoice JSON: decimals as strings, instants RFC 3339 UTC with ``Z``.

The API returns it, previews use it for computed drafts, and the HTML/PDF documents and
the CLI render it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tallybook.documents.json_format import iso
from tallybook.domain.billing.invoice import Invoice, InvoiceDraft, Totals
from tallybook.domain.billing.lines import line_to_dict
from tallybook.domain.finance.credit_notes import CreditNote
from tallybook.domain.finance.taxes import rate_summary


def _totals(totals: Totals) -> dict[str, Any]:
    return {
        "subtotal": totals.subtotal,
        "discount_total": totals.discount_total,
        "credits_applied": totals.credits_applied,
        "tax_total": totals.tax_total,
        "total": totals.total,
    }


def credit_note_json(note: CreditNote) -> dict[str, Any]:
    """A credit note (``POST /v1/invoices/{id}/credit-notes``)."""
    return {
        "id": note.id,
        "number": note.display_number,
        "sequence": note.number,
        "invoice": note.invoice,
        "customer": note.customer,
        "currency": note.currency,
        "reason": note.reason,
        "refund": note.refund.value,
        "grant": note.grant,
        "lines": [line.to_dict() for line in note.lines],
        "subtotal": note.subtotal,
        "tax_total": note.tax_total,
        "total": note.total,
        "created_at": iso(note.created_at),
    }


def invoice_json(invoice: Invoice, notes: Sequence[CreditNote] = ()) -> dict[str, Any]:
    """A stored invoice in the contract's shape (``GET /v1/invoices/{id}``), with the
    credit notes issued against it (a summary: id, number, total, refund)."""
    return {
        "id": invoice.id,
        "number": invoice.display_number,
        "sequence": invoice.number,
        "status": invoice.status.value,
        "customer": invoice.customer,
        "currency": invoice.currency,
        "kind": invoice.kind.value,
        "period_start": iso(invoice.period_start),
        "period_end": iso(invoice.period_end),
        "issue_at": iso(invoice.issue_at),
        "lines": [line_to_dict(line) for line in invoice.lines],
        **_totals(invoice.totals),
        "taxes": [s.to_dict() for s in rate_summary(invoice.lines)],
        "tax_note": invoice.tax_note,
        "parties": invoice.parties,
        "credit_notes": [
            {
                "id": n.id,
                "number": n.display_number,
                "total": n.total,
                "refund": n.refund.value,
                "reason": n.reason,
                "created_at": iso(n.created_at),
            }
            for n in notes
        ],
        "created_at": iso(invoice.created_at),
        "updated_at": iso(invoice.updated_at),
        "finalized_at": iso(invoice.finalized_at),
        "voided_at": iso(invoice.voided_at),
        "paid_at": iso(invoice.paid_at),
    }


def draft_json(draft: InvoiceDraft, status: str = "preview") -> dict[str, Any]:
    """A computed, unstored invoice (upcoming invoice) in the same shape."""
    return {
        "id": None,
        "number": None,
        "sequence": None,
        "status": status,
        "customer": draft.customer,
        "currency": draft.currency,
        "kind": draft.kind.value,
        "period_start": iso(draft.period_start),
        "period_end": iso(draft.period_end),
        "issue_at": iso(draft.issue_at),
        "lines": [line_to_dict(line) for line in draft.lines],
        **_totals(draft.totals),
        "taxes": [s.to_dict() for s in rate_summary(draft.lines)],
        "tax_note": draft.tax_note,
        "parties": draft.parties,
    }

"""``/v1/invoices``: list, read (by id or number), void, pay.

``invoice_json`` and ``draft_json`` are the contract's invoice shape (decimals as
strings, instants RFC 3339 UTC with ``Z``); previews and the HTML/PDF documents use them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.routes.customers import CURSOR_HELP, instant_field
from tallybook.domain.errors import ValidationError
from tallybook.domain.invoices import (
    Invoice,
    InvoiceDraft,
    InvoiceStatus,
    Totals,
    line_to_dict,
)

router = APIRouter(tags=["invoices"])


def _totals(totals: Totals) -> dict[str, Any]:
    return {
        "subtotal": totals.subtotal,
        "discount_total": totals.discount_total,
        "credits_applied": totals.credits_applied,
        "total": totals.total,
    }


def invoice_json(invoice: Invoice) -> dict[str, Any]:
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
    }


def _status(value: str | None) -> InvoiceStatus | None:
    if value is None or value == "":
        return None
    try:
        return InvoiceStatus(value)
    except ValueError:
        raise ValidationError(
            f"status must be one of {', '.join(s.value for s in InvoiceStatus)}",
            code="invalid_status",
            details={"status": value},
        ) from None


@router.get(
    "/v1/invoices",
    summary="Invoices in number order, drafts last (cursor pagination; filters)",
)
def list_invoices(
    tenant: TenantDep,
    container: ContainerDep,
    customer: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[
        str | None, Query(max_length=16, description="draft, finalized, void or paid")
    ] = None,
    number: Annotated[str | None, Query(max_length=32, description="INV-000042 or 42")] = None,
    period_start_from: Annotated[
        str | None, Query(max_length=64, description="period_start >= this (RFC 3339)")
    ] = None,
    period_start_to: Annotated[
        str | None, Query(max_length=64, description="period_start < this (RFC 3339)")
    ] = None,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.invoices.list(
        tenant,
        customer=customer,
        status=_status(status),
        number=number,
        period_start_from=instant_field("period_start_from", period_start_from),
        period_start_to=instant_field("period_start_to", period_start_to),
        limit=limit,
        cursor=cursor,
    )
    data = [invoice_json(i) for i in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})


@router.get("/v1/invoices/{reference}", summary="An invoice, by id or number (INV-000042)")
def get_invoice(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(invoice_json(container.invoices.get(tenant, reference)))


@router.post("/v1/invoices/{reference}/void", summary="Void a finalized invoice")
def void_invoice(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(invoice_json(container.invoices.void(tenant, reference)))


@router.post("/v1/invoices/{reference}/pay", summary="Mark a finalized invoice paid")
def pay_invoice(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(invoice_json(container.invoices.pay(tenant, reference)))

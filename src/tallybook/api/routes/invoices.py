"""``/v1/invoices``: list, read (by id or number), void, pay (shape: ``documents.invoice_json``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP, instant_field
from tallybook.api.responses import JsonResponse
from tallybook.documents.invoice_json import invoice_json
from tallybook.domain.billing.invoice import InvoiceStatus
from tallybook.domain.errors import ValidationError
from tallybook.domain.finance.credit_notes import CreditNote

router = APIRouter(tags=["invoices"])


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
    notes: dict[str, list[CreditNote]] = {}
    finals = [i.id for i in page.items if i.number is not None]
    for note in container.credit_notes.of_invoices(tenant, finals):
        notes.setdefault(note.invoice, []).append(note)
    data = [invoice_json(i, notes.get(i.id, ())) for i in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})


@router.get("/v1/invoices/{reference}", summary="An invoice, by id or number (INV-000042)")
def get_invoice(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    invoice = container.invoices.get(tenant, reference)
    notes = container.credit_notes.of_invoices(tenant, [invoice.id])
    data = invoice_json(invoice, notes)
    external = {}
    if container.payments is not None:  # Stripe sync state (CONTRACT.md Part 2)
        stripe_state = container.payments.sync.external(tenant, invoice)
        if stripe_state is not None:
            external["stripe"] = stripe_state
    data["external"] = external
    return JsonResponse(data)


@router.post("/v1/invoices/{reference}/void", summary="Void a finalized invoice")
def void_invoice(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(invoice_json(container.invoices.void(tenant, reference)))


@router.post("/v1/invoices/{reference}/pay", summary="Mark a finalized invoice paid")
def pay_invoice(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(invoice_json(container.invoices.pay(tenant, reference)))

"""Credit notes (CONTRACT.md Part 2, "Invoices for finance").

``POST /v1/invoices/{id}/credit-notes`` ``{"lines": [{"line", "amount"}] | "all",
"reason", "refund": "credit_balance" | "external"}`` on a finalized or paid invoice
(201; ``409 invalid_invoice_status`` on a draft or void one; ``422
amount_exceeds_creditable``, ``invalid_line``, ``invalid_amount``, ``nothing_to_credit``,
``invalid_reason``, ``invalid_refund``), ``GET /v1/invoices/{id}/credit-notes`` and
``GET /v1/credit-notes/{id}``. ``line`` is the line's index in the invoice's ``lines``.
Listed before ``routes.invoices`` so ``/v1/invoices/{reference}`` does not take the path.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse
from tallybook.documents.invoice_json import credit_note_json
from tallybook.domain.finance.credit_notes import NoteRequest, refund_of

router = APIRouter(tags=["invoices"])
MAX_NOTE_LINES = 1000


class NoteLineIn(Strict):
    line: int = Field(ge=0, le=10**6, description="the line's index in the invoice's lines")
    amount: DecimalIn = Field(examples=["10.00"])


class CreditNoteIn(Strict):
    lines: Literal["all"] | list[NoteLineIn] = Field(max_length=MAX_NOTE_LINES)
    reason: str = Field(min_length=1, max_length=500)
    refund: str = Field(max_length=32, examples=["credit_balance", "external"])


@router.post(
    "/v1/invoices/{reference}/credit-notes",
    summary="Credit a finalized or paid invoice, fully or per line",
    status_code=201,
    responses={409: {"description": "invalid_invoice_status: a draft or void invoice"}},
)
def create_credit_note(
    reference: str,
    body: CreditNoteIn,
    tenant: TenantDep,
    container: ContainerDep,
    http: Request,
) -> JsonResponse:
    http.state.audit_reason = body.reason  # the audit entry's reason (api/audit_hook.py)
    lines = None
    if body.lines != "all":
        lines = []
        for item in body.lines:
            amount = decimal_field("amount", item.amount)
            assert amount is not None
            lines.append((item.line, amount))
    request = NoteRequest(lines, body.reason, refund_of(body.refund))
    note = container.credit_notes.create(tenant, reference, request)
    return JsonResponse(credit_note_json(note), status_code=201)


@router.get("/v1/invoices/{reference}/credit-notes", summary="An invoice's credit notes")
def list_credit_notes(reference: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    notes = container.credit_notes.of_invoice(tenant, reference)
    return JsonResponse({"data": [credit_note_json(n) for n in notes], "next_cursor": None})


@router.get("/v1/credit-notes/{note_id}", summary="A credit note")
def get_credit_note(note_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(credit_note_json(container.credit_notes.get(tenant, note_id)))

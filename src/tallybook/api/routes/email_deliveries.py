"""``GET /v1/email-deliveries``: the tenant's invoice and credit-note e-mails (a credit
note's has ``credit_note`` set) and how they went
(``status`` pending | sent | failed, ``invoice``; ``limit`` 1-1000, opaque ``cursor``).
A failed delivery keeps its last error; nothing is ever dropped silently."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.finance.delivery import Delivery

router = APIRouter(tags=["invoices"])


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "invoice": delivery.invoice,
        "credit_note": delivery.credit_note,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "recipients": list(delivery.recipients),
        "message_id": delivery.message_id,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "sent_at": iso(delivery.sent_at),
    }


@router.get("/v1/email-deliveries", summary="Invoice e-mails and their delivery status")
def list_deliveries(
    tenant: TenantDep,
    container: ContainerDep,
    status: Annotated[str | None, Query(max_length=16, description="pending, sent, failed")] = None,
    invoice: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.emails.list(tenant, status=status, invoice=invoice, limit=limit, cursor=cursor)
    data = [delivery_json(d) for d in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})

"""Credits (CONTRACT.md Part 2): grants, void, the live balance and the ledger.

``POST /v1/customers/{id}/credit-grants`` (201; a repeat with the same body 200, with
another body 409 ``conflict``), ``GET /v1/customers/{id}/credit-grants``,
``POST /v1/credit-grants/{id}/void``, ``GET /v1/customers/{id}/credits``,
``GET /v1/customers/{id}/credit-ledger``. Lists take ``limit`` (1-1000) and an opaque
``cursor``; ``cursor`` (services/pagination.py); unknown query parameters are refused app-wide.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, IdIn, InstantIn, Strict, decimal_field, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.credits.ledger import Entry, Grant
from tallybook.services.credits import CreditSummary, GrantRequest
from tallybook.services.pagination import check_limit, decode_cursor, page_of

router = APIRouter(tags=["credits"])


class GrantIn(Strict):
    id: IdIn | None = None
    amount: DecimalIn
    currency: str = Field(min_length=1, max_length=8, examples=["USD"])
    category: str = Field("promotional", max_length=32)
    priority: int = Field(50, ge=-(10**9), le=10**9)
    effective_at: InstantIn | None = None
    expires_at: InstantIn | None = None
    applies_to: str | dict[str, list[Annotated[str, Field(max_length=255)]]] | None = Field(
        None, examples=["usage", "all", {"charges": ["api"]}]
    )
    purchase_price: DecimalIn | None = None
    description: str | None = Field(None, max_length=500)


def grant_json(grant: Grant, remaining: Decimal) -> dict[str, Any]:
    return {
        "id": grant.id,
        "customer": grant.customer,
        "amount": grant.amount,
        "remaining": remaining,
        "currency": grant.currency,
        "category": grant.category.value,
        "priority": grant.priority,
        "effective_at": iso(grant.effective_at),
        "expires_at": iso(grant.expires_at),
        "applies_to": grant.applies_to.to_json(),
        "purchase_price": grant.purchase_price,
        "description": grant.description,
        "source": grant.source,
        "created_at": iso(grant.created_at),
    }


def summary_json(summary: CreditSummary) -> dict[str, Any]:
    return {
        "currency": summary.currency,
        "balance": summary.balance,
        "available": summary.available,
        "projected_available": summary.projected_available,
        "projected_shortfall": summary.projected_shortfall,
        "grants": [
            {
                "id": g.id,
                "remaining": left,
                "priority": g.priority,
                "expires_at": iso(g.expires_at),
            }
            for g, left in summary.grants
        ],
    }


def entry_json(seq: int, entry: Entry) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": iso(entry.at),
        "grant": entry.grant,
        "type": entry.type.value,
        "amount": entry.amount,
        "invoice": entry.invoice,
        "line": entry.line,
        "balance_after": entry.balance_after,
    }


@router.post(
    "/v1/customers/{customer_id}/credit-grants",
    summary="Grant credits to a customer (201; a repeat of the same id and body is 200)",
    status_code=201,
    responses={409: {"description": "conflict: the id exists with another body"}},
)
def create_grant(
    customer_id: str, body: GrantIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    amount = decimal_field("amount", body.amount)
    assert amount is not None
    request = GrantRequest(
        id=body.id,
        amount=amount,
        currency=body.currency,
        category=body.category,
        priority=body.priority,
        effective_at=instant_field("effective_at", body.effective_at),
        expires_at=instant_field("expires_at", body.expires_at),
        applies_to=body.applies_to,
        purchase_price=decimal_field("purchase_price", body.purchase_price),
        description=body.description,
    )
    grant, created = container.credits.create_grant(tenant, customer_id, request)
    remaining = grant.amount if created else _remaining(container, tenant, grant)
    return JsonResponse(grant_json(grant, remaining), status_code=201 if created else 200)


def _remaining(container: ContainerDep, tenant: str, grant: Grant) -> Decimal:
    for stored, left in container.credits.grants(tenant, grant.customer):
        if stored.id == grant.id:
            return left
    return Decimal(0)


@router.get(
    "/v1/customers/{customer_id}/credit-grants",
    summary="A customer's credit grants with their remaining amounts, oldest first",
)
def list_grants(
    customer_id: str,
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query()] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> JsonResponse:
    limit = check_limit(limit)
    position = decode_cursor(cursor, (int,))
    start = int(position[0] or 0) if position else 0
    grants = container.credits.grants(tenant, customer_id)[start : start + limit + 1]
    page = page_of(grants, limit, key=lambda _: (start + limit,))
    return JsonResponse(
        {"data": [grant_json(g, left) for g, left in page.items], "next_cursor": page.next_cursor}
    )


@router.post(
    "/v1/credit-grants/{grant_id}/void",
    summary="Void a credit grant: its remaining amount goes to zero (a void entry)",
)
def void_grant(grant_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    grant, left = container.credits.void_grant(tenant, grant_id)
    return JsonResponse(grant_json(grant, left))


@router.get(
    "/v1/customers/{customer_id}/credits",
    summary="The live credit balance: balance, available now and projected to the period end",
)
def credits(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(summary_json(container.credits.summary(tenant, customer_id)))


@router.get(
    "/v1/customers/{customer_id}/credit-ledger",
    summary="The customer's append-only credit ledger, oldest first",
)
def ledger(
    customer_id: str,
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query()] = 100,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> JsonResponse:
    limit = check_limit(limit)
    position = decode_cursor(cursor, (int,))
    after = int(position[0] or 0) if position else 0
    found = container.credits.ledger(tenant, customer_id, after=after, limit=limit + 1)
    page = page_of(found, limit, key=lambda item: (item[0],))
    return JsonResponse(
        {"data": [entry_json(seq, e) for seq, e in page.items], "next_cursor": page.next_cursor}
    )

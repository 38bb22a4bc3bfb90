"""``/v1/customers``: create, read and list customers (a child is billed to its parent)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import IdIn, Strict, page_limit
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.subscriptions.model import Customer

router = APIRouter(tags=["customers"])


class CustomerIn(Strict):
    id: IdIn
    currency: str = Field(min_length=3, max_length=3, examples=["USD"])
    timezone: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/Paris"])
    name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=320)
    parent: str | None = Field(None, min_length=1, max_length=255)


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "currency": customer.currency,
        "timezone": customer.timezone,
        "parent": customer.parent,
        "created_at": iso(customer.created_at),
    }


@router.post("/v1/customers", summary="Create a customer", status_code=201)
def create_customer(body: CustomerIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    customer = container.customers.create(
        tenant,
        body.id,
        currency=body.currency.upper(),
        timezone=body.timezone,
        name=body.name,
        email=body.email,
        parent=body.parent,
    )
    return JsonResponse(customer_json(customer), status_code=201)


@router.get("/v1/customers", summary="Customers, by id (keyset pagination)")
def list_customers(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query()] = 50,
    starting_after: Annotated[str | None, Query(max_length=255)] = None,
    parent: Annotated[str | None, Query(max_length=255)] = None,
) -> JsonResponse:
    found = container.customers.page(
        tenant, limit=page_limit(limit), starting_after=starting_after, parent=parent
    )
    data = [customer_json(c) for c in found]
    return JsonResponse({"data": data, "has_more": len(data) == limit})


@router.get("/v1/customers/{customer_id}", summary="A customer")
def get_customer(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(customer_json(container.customers.get(tenant, customer_id)))

"""``/v1/customers``: create, read, list (with filters), update and archive customers
(a child is billed to its parent)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP, IdIn, Strict
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
        "archived_at": iso(customer.archived_at),
        **customer.billing.to_dict(),
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


@router.get(
    "/v1/customers",
    summary="Customers, by id (cursor pagination; filters by email, text, parent)",
)
def list_customers(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
    parent: Annotated[str | None, Query(max_length=255, description="Children of")] = None,
    email: Annotated[
        str | None, Query(max_length=320, description="Exact e-mail (case-insensitive)")
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=255, description="Text in the id or name (any case)"),
    ] = None,
    include_archived: Annotated[bool, Query(description="Also archived customers")] = False,
) -> JsonResponse:
    page = container.customers.list(
        tenant,
        limit=limit,
        cursor=cursor,
        parent=parent,
        email=email,
        query=q,
        include_archived=include_archived,
    )
    data = [customer_json(c) for c in page.items]
    return JsonResponse({"data": data, "next_cursor": page.next_cursor})


@router.get("/v1/customers/{customer_id}", summary="A customer")
def get_customer(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(customer_json(container.customers.get(tenant, customer_id)))


class CustomerPatch(BaseModel):
    """Mutable fields; any other field is refused (``immutable_field`` / ``unknown_field``)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=320)
    timezone: str | None = Field(None, min_length=1, max_length=64, examples=["Europe/Paris"])
    legal_name: str | None = Field(None, max_length=255)
    address: dict[str, str | None] | None = Field(None, max_length=6)
    tax_id: str | None = Field(None, max_length=64)
    billing_emails: list[Annotated[str, Field(max_length=320)]] | None = Field(None, max_length=10)
    locale: str | None = Field(None, max_length=35, examples=["de_DE"])
    tax_rates: list[Annotated[str, Field(max_length=255)]] | None = Field(None, max_length=5)
    tax_exempt: str | None = Field(None, max_length=32, examples=["none", "reverse_charge"])


@router.patch(
    "/v1/customers/{customer_id}",
    summary="Change a customer's name, email, time zone or invoice and tax details",
    description=(
        "Only the fields sent change; `null` clears `name`, `email` or a buyer detail "
        "(`legal_name`, `address`, `tax_id`, `billing_emails`, `locale`, `tax_rates`, "
        "`tax_exempt`: none | exempt | reverse_charge). `id`, `currency` and "
        "`parent` are immutable (`422 immutable_field`). A new `timezone` applies to "
        "subscriptions created afterwards; existing subscriptions keep the zone they were "
        "created in, so no billed period or finalized invoice moves."
    ),
)
def patch_customer(
    customer_id: str, body: CustomerPatch, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    changes.update(body.model_extra or {})
    customer = container.customers.update(tenant, customer_id, changes)
    return JsonResponse(customer_json(customer))


@router.post(
    "/v1/customers/{customer_id}/archive",
    summary="Archive a customer (hidden from lists, no new subscriptions)",
    description=(
        "Refused with `409 customer_has_live_subscriptions` while a subscription of the "
        "customer (or billed to it) is not cancelled. Idempotent."
    ),
)
def archive_customer(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(customer_json(container.archive.archive_customer(tenant, customer_id)))

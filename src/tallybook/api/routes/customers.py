"""``/v1/customers``: create, read and list customers (a child is billed to its parent).

Also the request helpers the billing routes share: decimal and instant fields that
arrive as JSON strings (or numbers) and become coded 422s when malformed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import to_decimal
from tallybook.domain.periods import PeriodError, parse_instant
from tallybook.domain.subscriptions import Customer

router = APIRouter(tags=["customers"])

# A decimal in JSON: a string ("10.00") or a number; converted with ``decimal_field``.
DecimalIn = Annotated[str | int | float, Field(union_mode="left_to_right")]
InstantIn = Annotated[str, Field(min_length=1, max_length=64, examples=["2026-01-15T00:00:00Z"])]
IdIn = Annotated[str, Field(min_length=1, max_length=255)]
MAX_LIMIT = 100
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def decimal_field(name: str, value: str | int | float | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, str) and len(value) > 40:
        raise ValidationError(f"{name} is too long for a decimal", code="invalid_number")
    result = to_decimal(value, field=name)
    if abs(result) >= Decimal(10) ** 18:
        raise ValidationError(f"{name} is out of range", code="invalid_number")
    return result


def instant_field(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 instant between 1970 and 2199 (billing periods are computed from it)."""
    if value is None:
        return None
    try:
        instant = parse_instant(value)
    except PeriodError:
        instant = None
    if instant is None or not EARLIEST <= instant < LATEST:
        raise ValidationError(
            f"{name} must be an RFC 3339 timestamp between 1970 and 2199 such as "
            f"2026-01-15T00:00:00Z, got {value!r}",
            code="invalid_instant",
            details={"field": name},
        )
    return instant


def page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be 1-{MAX_LIMIT}", code="invalid_limit")
    return limit


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

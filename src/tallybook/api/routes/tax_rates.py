"""``/v1/tax-rates``: the tenant's tax rates (CONTRACT.md Part 2, "Invoices for finance").

``POST`` (201; a repeat of the same id and body 200, another body ``409 conflict``: rates
never change, since invoices copy them), ``GET`` (a page by id, ``limit`` 1-1000 and an
opaque ``cursor``) and ``GET /v1/tax-rates/{id}``. Customers name rates in ``tax_rates``
(``PATCH /v1/customers/{id}``), plan charges in the catalog (a charge's rates win).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import CURSOR_HELP, DecimalIn, IdIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.finance.taxes import TaxRate

router = APIRouter(tags=["taxes"])


class TaxRateIn(Strict):
    id: IdIn | None = None
    name: str = Field(min_length=1, max_length=255, examples=["DE VAT"])
    percentage: DecimalIn = Field(examples=["19"])
    inclusive: bool = False
    country: str | None = Field(None, max_length=6, examples=["DE", "US-CA"])
    description: str | None = Field(None, max_length=500)


def tax_rate_json(rate: TaxRate) -> dict[str, Any]:
    return {
        "id": rate.id,
        "name": rate.name,
        "percentage": rate.percentage,
        "inclusive": rate.inclusive,
        "country": rate.country,
        "description": rate.description,
        "created_at": iso(rate.created_at),
    }


@router.post(
    "/v1/tax-rates",
    summary="Create a tax rate (201; a repeat of the same id and body is 200)",
    status_code=201,
    responses={409: {"description": "conflict: the id exists with another body"}},
)
def create_tax_rate(body: TaxRateIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    percentage = decimal_field("percentage", body.percentage)
    assert percentage is not None
    rate, created = container.tax_rates.create(
        tenant,
        rate_id=body.id,
        name=body.name,
        percentage=percentage,
        inclusive=body.inclusive,
        country=body.country,
        description=body.description,
    )
    return JsonResponse(tax_rate_json(rate), status_code=201 if created else 200)


@router.get("/v1/tax-rates", summary="The tenant's tax rates, by id")
def list_tax_rates(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query(description="1-1000")] = 50,
    cursor: Annotated[str | None, Query(max_length=2048, description=CURSOR_HELP)] = None,
) -> JsonResponse:
    page = container.tax_rates.list(tenant, limit=limit, cursor=cursor)
    return JsonResponse(
        {"data": [tax_rate_json(r) for r in page.items], "next_cursor": page.next_cursor}
    )


@router.get("/v1/tax-rates/{rate_id}", summary="A tax rate")
def get_tax_rate(rate_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(tax_rate_json(container.tax_rates.get(tenant, rate_id)))

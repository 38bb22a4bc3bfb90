"""Spend limits (CONTRACT.md Part 2): ``PUT``/``GET``/``DELETE /v1/customers/{id}/spend-limit``.

``PUT`` takes ``{"amount": "1000.00", "mode": "soft" | "hard"}``; every answer is the limit
with the period total it is compared with (``services.spend_limits``):
``{"customer", "amount", "mode", "currency", "period_total", "period_start", "period_end",
"reached", "blocking", "updated_at"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.services.spend_limits import SpendStatus

router = APIRouter(tags=["spend limits"])
PATH = "/v1/customers/{customer_id}/spend-limit"


def status_json(status: SpendStatus) -> dict[str, Any]:
    limit, total = status.limit, status.total
    return {
        "customer": status.customer,
        "amount": None if limit is None else limit.amount,
        "mode": None if limit is None else limit.mode.value,
        "currency": None if limit is None else limit.currency,
        "period_total": None if total is None else total.total,
        "period_start": None if total is None else iso(total.period_start),
        "period_end": None if total is None else iso(total.period_end),
        "reached": status.reached,
        "blocking": status.blocks,
        "updated_at": None if limit is None else iso(limit.updated_at),
    }


class SpendLimitIn(Strict):
    amount: DecimalIn = Field(examples=["1000.00"])
    mode: str = Field("soft", max_length=8, examples=["soft", "hard"])


@router.put(
    PATH,
    summary="Set the customer's spend limit per billing period (soft or hard)",
    description=(
        "Reached when the period total (the upcoming invoice as the customer sees it: "
        "rounded lines, fees in full as planned, before credits) is at or above `amount`. "
        "`hard` then refuses metered entitlements until the next period or a higher limit. "
        "`spend_limit.reached` is sent once per period and limit."
    ),
)
def put_limit(
    customer_id: str, body: SpendLimitIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    amount = decimal_field("amount", body.amount)
    assert amount is not None
    status = container.spend_limits.set(tenant, customer_id, amount, body.mode)
    return JsonResponse(status_json(status))


@router.get(PATH, summary="The customer's spend limit and the period total now")
def get_limit(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(status_json(container.spend_limits.get(tenant, customer_id)))


@router.delete(PATH, summary="Remove the customer's spend limit", status_code=204)
def delete_limit(customer_id: str, tenant: TenantDep, container: ContainerDep) -> Response:
    container.spend_limits.delete(tenant, customer_id)
    return Response(status_code=204)

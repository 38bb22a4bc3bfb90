"""``/v1/customers/{id}/upcoming-invoice`` and ``/v1/customers/{id}/usage``: previews.

Computed on each request from the events stored so far, never stored
(``services.billing.previews``). Decimals are strings, instants RFC 3339 UTC with ``Z``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tallybook.api.deps import PreviewsDep, TenantDep
from tallybook.api.responses import JsonResponse, iso
from tallybook.documents.invoice_json import draft_json
from tallybook.services.billing.previews import ChargeUsage, CurrentUsage, Upcoming

router = APIRouter(tags=["previews"])


def upcoming_json(upcoming: Upcoming) -> dict[str, Any]:
    body = draft_json(upcoming.draft)
    body["as_of"] = iso(upcoming.as_of)
    body["projected_total"] = upcoming.projected.totals.total
    return body


def charge_json(charge: ChargeUsage) -> dict[str, Any]:
    return {
        "subscription": charge.subscription,
        "charge": charge.charge,
        "name": charge.name,
        "meter": charge.meter,
        "used": charge.used,
        "included": charge.included,
        "remaining": charge.remaining,
        "billable": charge.billable,
        "amount": charge.amount,
        "projected_used": charge.projected_used,
        "projected_amount": charge.projected_amount,
    }


def usage_json(usage: CurrentUsage) -> dict[str, Any]:
    return {
        "customer": usage.customer.id,
        "as_of": iso(usage.as_of),
        "period_start": iso(usage.period_start),
        "period_end": iso(usage.period_end),
        "currency": usage.currency,
        "plans": list(usage.plans),
        "charges": [charge_json(c) for c in usage.charges],
        "amount": usage.amount,
        "projected_total": usage.projected_total,
    }


@router.get(
    "/v1/customers/{customer_id}/upcoming-invoice",
    summary="The invoice the current period would get if it closed now (never stored)",
    responses={404: {"description": "customer_not_found or no_upcoming_invoice"}},
)
def upcoming_invoice(customer_id: str, tenant: TenantDep, previews: PreviewsDep) -> JsonResponse:
    return JsonResponse(upcoming_json(previews.upcoming_invoice(tenant, customer_id)))


@router.get(
    "/v1/customers/{customer_id}/usage",
    summary="Usage of the current period per charge, with the amount so far and a projection",
    responses={404: {"description": "customer_not_found"}},
)
def current_usage(customer_id: str, tenant: TenantDep, previews: PreviewsDep) -> JsonResponse:
    return JsonResponse(usage_json(previews.current_usage(tenant, customer_id)))

"""``POST /v1/billing-runs``: close due periods as of an instant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import InstantIn, Strict, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.services.billing.runs import RunResult

router = APIRouter(tags=["billing"])


class BillingRunIn(Strict):
    as_of: InstantIn | None = Field(None, description="default: now")


def run_json(result: RunResult) -> dict[str, Any]:
    return {
        "as_of": iso(result.as_of),
        "invoices_created": result.created,
        "invoices_updated": result.updated,
        "invoices_finalized": result.finalized,
        "invoices_deleted": result.deleted,
        "customers": result.accounts,
        "subscriptions": result.subscriptions,
        "customers_failed": result.failed,
    }


@router.post("/v1/billing-runs", summary="Close every period ended at or before as_of")
def billing_run(body: BillingRunIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    as_of = instant_field("as_of", body.as_of) or container.clock.now()
    return JsonResponse(run_json(container.billing.run(tenant, as_of)))

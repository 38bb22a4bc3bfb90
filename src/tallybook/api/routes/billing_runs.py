"""``POST /v1/billing-runs`` (close due periods as of an instant) and
``PATCH /v1/tenant`` (the tenant's billing settings: the grace period)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.routes.customers import InstantIn, Strict, instant_field
from tallybook.services.billing import MAX_GRACE_SECONDS, RunResult

router = APIRouter(tags=["billing"])


class BillingRunIn(Strict):
    as_of: InstantIn | None = Field(None, description="default: now")


class TenantSettingsIn(Strict):
    grace_seconds: int = Field(
        ge=0, le=MAX_GRACE_SECONDS, description="how long a closed period's invoice stays draft"
    )


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


@router.patch("/v1/tenant", summary="Tenant billing settings (grace period)")
def patch_tenant(
    body: TenantSettingsIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    grace = container.billing.set_grace_seconds(tenant, body.grace_seconds)
    return JsonResponse({"id": tenant, "grace_seconds": grace})


@router.get("/v1/tenant", summary="Tenant billing settings")
def get_tenant(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse({"id": tenant, "grace_seconds": container.billing.grace_seconds(tenant)})

"""``/v1/tenant``: the calling tenant's billing settings (the grace period)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import Strict
from tallybook.api.responses import JsonResponse
from tallybook.services.tenants import MAX_GRACE_SECONDS

router = APIRouter(tags=["billing"])


class TenantSettingsIn(Strict):
    grace_seconds: int = Field(
        ge=0, le=MAX_GRACE_SECONDS, description="how long a closed period's invoice stays draft"
    )


@router.patch("/v1/tenant", summary="Tenant billing settings (grace period)")
def patch_tenant(
    body: TenantSettingsIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    grace = container.tenants.set_grace_seconds(tenant, body.grace_seconds)
    return JsonResponse({"id": tenant, "grace_seconds": grace})


@router.get("/v1/tenant", summary="Tenant billing settings")
def get_tenant(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse({"id": tenant, "grace_seconds": container.tenants.grace_seconds(tenant)})

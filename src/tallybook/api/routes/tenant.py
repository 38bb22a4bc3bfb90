"""``/v1/tenant``: the calling tenant's settings: the grace period, and governance
(``require_approval`` and the price-change guard rails, ``services.governance``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse
from tallybook.bootstrap import Container
from tallybook.domain.governance.changes import GuardRails
from tallybook.services.tenants import MAX_GRACE_SECONDS

router = APIRouter(tags=["billing"])


class GuardRailsIn(Strict):
    max_increase_pct: DecimalIn | None = Field(None, description="largest price increase, %")
    max_decrease_pct: DecimalIn | None = Field(None, description="largest price decrease, %")
    min_notice_days: Annotated[int | None, Field(None, ge=0, le=3650)] = None


class TenantSettingsIn(Strict):
    grace_seconds: int | None = Field(
        None,
        ge=0,
        le=MAX_GRACE_SECONDS,
        description="how long a closed period's invoice stays draft",
    )
    require_approval: bool | None = Field(
        None, description="direct price edits are refused (409 approval_required)"
    )
    guard_rails: GuardRailsIn | None = Field(
        None, description="checks of catalog changes (null fields: no limit); replaces all"
    )


def _settings(container: Container, tenant: str) -> dict[str, Any]:
    rails = container.governance.guard_rails(tenant)
    return {
        "id": tenant,
        "grace_seconds": container.tenants.grace_seconds(tenant),
        "require_approval": rails.require_approval,
        "guard_rails": {
            "max_increase_pct": _text(rails.max_increase_pct),
            "max_decrease_pct": _text(rails.max_decrease_pct),
            "min_notice_days": rails.min_notice_days,
        },
    }


def _text(value: Any) -> str | None:
    return None if value is None else f"{value:f}"


@router.patch("/v1/tenant", summary="Tenant settings (grace period, governance)")
def patch_tenant(
    body: TenantSettingsIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    if body.grace_seconds is not None:
        container.tenants.set_grace_seconds(tenant, body.grace_seconds)
    if body.require_approval is not None or body.guard_rails is not None:
        rails = container.governance.guard_rails(tenant)
        if body.require_approval is not None:
            rails = replace(rails, require_approval=body.require_approval)
        if body.guard_rails is not None:
            given = body.guard_rails
            rails = GuardRails(
                require_approval=rails.require_approval,
                max_increase_pct=decimal_field("max_increase_pct", given.max_increase_pct),
                max_decrease_pct=decimal_field("max_decrease_pct", given.max_decrease_pct),
                min_notice_days=given.min_notice_days,
            )
        container.governance.set_guard_rails(tenant, rails)
    return JsonResponse(_settings(container, tenant))


@router.get("/v1/tenant", summary="Tenant settings")
def get_tenant(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(_settings(container, tenant))

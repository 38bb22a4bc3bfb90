"""Entitlements (CONTRACT.md Part 2): checks, the customer's list, per-customer overrides.

``GET /v1/customers/{id}/entitlements/{feature}?units=1`` answers
``{"feature", "has_access", "usage", "limit", "remaining", "overage", "config", "reason",
"reset_at", "as_of"}``; ``GET /v1/customers/{id}/entitlements`` lists them (``data``);
``PUT``/``DELETE /v1/customers/{id}/entitlements/{feature}`` set and remove an override.
Rules: ``domain.entitlements``; inputs: ``services.entitlements``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import DecimalIn, Strict, decimal_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.entitlements import Entitlement
from tallybook.services.ports import FeatureOverrideRow

router = APIRouter(tags=["entitlements"])
PATH = "/v1/customers/{customer_id}/entitlements/{feature}"


def entitlement_json(entitlement: Entitlement) -> dict[str, Any]:
    """The contract's shape (decimals as strings, instants RFC 3339 UTC)."""
    return {
        "feature": entitlement.feature,
        "has_access": entitlement.has_access,
        "usage": entitlement.usage,
        "limit": entitlement.limit,
        "remaining": entitlement.remaining,
        "overage": entitlement.overage,
        "config": None if entitlement.config is None else dict(entitlement.config),
        "reason": None if entitlement.reason is None else entitlement.reason.value,
        "reset_at": iso(entitlement.reset_at),
        "as_of": iso(entitlement.as_of),
    }


def override_json(row: FeatureOverrideRow) -> dict[str, Any]:
    return {
        "customer": row.customer,
        "feature": row.feature,
        "enabled": row.enabled,
        "limit": row.limit,
        "hard": row.hard,
        "updated_at": iso(row.updated_at),
    }


@router.get(
    PATH,
    summary="May the customer use `units` of the feature now?",
    description=(
        "A hard metered limit grants access iff `usage + units <= limit`; a soft one always "
        "grants it (`reason: limit_reached` when this use would go over). A reached hard "
        "spend limit refuses metered features (`spend_limit_reached`). `404 feature_not_found` "
        "when no plan of the tenant defines the feature; negative `units` is "
        "`422 invalid_units`."
    ),
)
def check(
    customer_id: str,
    feature: str,
    tenant: TenantDep,
    container: ContainerDep,
    units: Annotated[
        str, Query(min_length=1, max_length=40, description="Units about to be used (default 1)")
    ] = "1",
) -> JsonResponse:
    amount = decimal_field("units", units)
    assert amount is not None
    entitlement = container.entitlements.check(tenant, customer_id, feature, amount)
    return JsonResponse(entitlement_json(entitlement))


@router.get(
    "/v1/customers/{customer_id}/entitlements",
    summary="Every feature of the customer's plan (and its overrides), each for one unit",
)
def list_entitlements(customer_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    found = container.entitlements.all(tenant, customer_id)
    return JsonResponse({"data": [entitlement_json(e) for e in found]})


class OverrideIn(Strict):
    enabled: bool | None = Field(None, description="false: take the feature away; true: grant it")
    limit: DecimalIn | None = Field(None, description="Metered features: units per period")
    hard: bool | None = Field(None, description="Metered features: refuse use beyond the limit")


@router.put(
    PATH,
    summary="Override a feature for one customer (enabled, limit, hard)",
    description="Fields left out (or null) keep the plan's value. Replaces any earlier override.",
)
def put_override(
    customer_id: str, feature: str, body: OverrideIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    row = container.entitlements.override(
        tenant,
        customer_id,
        feature,
        enabled=body.enabled,
        limit=decimal_field("limit", body.limit),
        hard=body.hard,
    )
    return JsonResponse(override_json(row))


@router.delete(PATH, summary="Remove a customer's override of a feature", status_code=204)
def delete_override(
    customer_id: str, feature: str, tenant: TenantDep, container: ContainerDep
) -> Response:
    container.entitlements.remove_override(tenant, customer_id, feature)
    return Response(status_code=204)

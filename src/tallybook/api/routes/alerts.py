"""``/v1/alerts``, ``/v1/alert-settings`` and ``/v1/customers/{id}/alerts`` (CONTRACT.md
Part 2, "Alerts, spend limits, entitlements"); the rules live in ``domain.alerts`` and the
use cases in ``services.alerts``. Lists are paginated (``limit`` 1-1000, opaque ``cursor``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import Field, StrictBool

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import Strict
from tallybook.api.responses import JsonResponse, iso
from tallybook.domain.alerts import MAX_THRESHOLD_CHARS, MAX_THRESHOLDS, Alert, Fired
from tallybook.domain.alerts import threshold_text as text
from tallybook.services.pagination import Page

router = APIRouter(tags=["alerts"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1-1000).")]
Cursor = Annotated[str | None, Query(max_length=400, description="From next_cursor.")]
AlertId = Annotated[str, Path(max_length=255)]
CustomerId = Annotated[str, Path(max_length=255)]
Key = Annotated[str, Field(min_length=1, max_length=255)]
Threshold = Annotated[str, Field(min_length=1, max_length=MAX_THRESHOLD_CHARS)]


class AlertIn(Strict):
    id: Key | None = None
    customer: Key | None = None
    plan: Key | None = None
    type: str = Field(max_length=64)
    charge: Key | None = None
    thresholds: list[Threshold] = Field(min_length=1, max_length=MAX_THRESHOLDS)


class SettingsIn(Strict):
    default_allowance_alerts: StrictBool


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "customer": alert.customer,
        "plan": alert.plan,
        "type": alert.type.value,
        "charge": alert.charge,
        "thresholds": [text(t) for t in alert.thresholds],
        "created_at": iso(alert.created_at),
    }


def fired_json(fired: Fired) -> dict[str, Any]:
    return {
        "id": fired.id,
        "alert": fired.alert,
        "type": fired.type.value,
        "customer": fired.customer,
        "charge": fired.charge,
        "threshold": text(fired.threshold),
        "value": fired.value,
        "limit": fired.limit,
        "period_start": iso(fired.period_start),
        "period_end": iso(fired.period_end),
        "fired_at": iso(fired.fired_at),
    }


def _page(page: Page[Any], render: Any) -> dict[str, Any]:
    return {
        "data": [render(item) for item in page.items],
        "has_more": page.next_cursor is not None,
        "next_cursor": page.next_cursor,
    }


@router.post("/v1/alerts", summary="Create an alert (thresholds on usage, spend or credits)")
def create_alert(body: AlertIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    created = container.alerts.create(
        tenant,
        type=body.type,
        thresholds=body.thresholds,
        alert_id=body.id,
        customer=body.customer,
        plan=body.plan,
        charge=body.charge,
    )
    return JsonResponse(alert_json(created.alert), status_code=201 if created.created else 200)


@router.get("/v1/alerts", summary="Alerts (paginated, by id)")
def list_alerts(
    tenant: TenantDep, container: ContainerDep, limit: Limit = 100, cursor: Cursor = None
) -> JsonResponse:
    return JsonResponse(
        _page(container.alerts.page(tenant, limit=limit, cursor=cursor), alert_json)
    )


@router.get("/v1/alerts/{alert_id}", summary="An alert")
def get_alert(alert_id: AlertId, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(alert_json(container.alerts.get(tenant, alert_id)))


@router.delete("/v1/alerts/{alert_id}", summary="Delete an alert (its fired alerts stay)")
def delete_alert(alert_id: AlertId, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    container.alerts.delete(tenant, alert_id)
    return JsonResponse({"id": alert_id, "deleted": True})


@router.get("/v1/alert-settings", summary="Whether the default 80/100 % allowance alerts are on")
def get_settings(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    enabled = container.alerts.default_allowance(tenant)
    return JsonResponse({"default_allowance_alerts": enabled})


@router.put("/v1/alert-settings", summary="Turn the default allowance alerts on or off")
def put_settings(body: SettingsIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    enabled = container.alerts.set_default_allowance(tenant, body.default_allowance_alerts)
    return JsonResponse({"default_allowance_alerts": enabled})


@router.get(
    "/v1/customers/{customer_id}/alerts",
    summary="A customer's fired alerts, newest first (paginated)",
    responses={404: {"description": "customer_not_found"}},
)
def customer_alerts(
    customer_id: CustomerId,
    tenant: TenantDep,
    container: ContainerDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> JsonResponse:
    page = container.alerts.fired(tenant, customer_id, limit=limit, cursor=cursor)
    return JsonResponse(_page(page, fired_json))

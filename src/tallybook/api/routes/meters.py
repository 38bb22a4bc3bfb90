"""``/v1/meters``: meter definitions and their usage over windows in a time zone."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.routes.catalog import document_body, post_resource
from tallybook.domain.errors import ValidationError
from tallybook.domain.metering.meters import WindowSize
from tallybook.domain.periods import PeriodError, parse_instant
from tallybook.services.catalog import meter_document
from tallybook.services.usage import UsageReport

router = APIRouter(tags=["meters"])


def query_instant(name: str, value: str) -> datetime:
    """An RFC 3339 query parameter (a ``+`` offset sent unencoded arrives as a space)."""
    text = value.strip()
    if len(text) > 19 and text[-6] == " ":
        text = text[:-6] + "+" + text[-5:]
    try:
        return parse_instant(text)
    except PeriodError:
        raise ValidationError(
            f"{name} must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z, got {value!r}",
            code="invalid_instant",
            details={"parameter": name},
        ) from None


def window_size(value: str | None) -> WindowSize | None:
    if value is None or value == "":
        return None
    try:
        return WindowSize(value.strip().lower())
    except ValueError:
        raise ValidationError(
            f"window must be one of {', '.join(w.value for w in WindowSize)}, got {value!r}",
            code="invalid_window",
            details={"window": value, "allowed": [w.value for w in WindowSize]},
        ) from None


def split_names(values: list[str] | None) -> list[str]:
    """``group_by=a&group_by=b`` or ``group_by=a,b``."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


@router.get("/v1/meters", summary="Meters")
def list_meters(tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    meters = container.catalog.list_meters(tenant)
    return JsonResponse({"data": [meter_document(m) for m in meters], "next_cursor": None})


@router.post(
    "/v1/meters",
    summary="Create a meter, or update it when its definition changed",
    openapi_extra=document_body({"$ref": "#/components/schemas/MeterDocument"}, "One meter"),
    status_code=201,
)
async def post_meter(request: Request, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    def render(key: str) -> dict[str, Any]:
        return meter_document(container.catalog.get_meter(tenant, key))

    return await post_resource(request, tenant, container, "meters", render)


@router.get("/v1/meters/{key}", summary="A meter")
def get_meter(key: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(meter_document(container.catalog.get_meter(tenant, key)))


@router.get(
    "/v1/meters/{key}/usage",
    summary="A meter's usage per window [start, end) in a time zone, per customer",
)
def meter_usage(
    key: str,
    tenant: TenantDep,
    container: ContainerDep,
    start: Annotated[str, Query(alias="from", description="Inclusive start (RFC 3339)")],
    end: Annotated[str, Query(alias="to", description="Exclusive end (RFC 3339)")],
    customer: Annotated[
        list[str] | None, Query(description="Customer id(s); all when absent")
    ] = None,
    window: Annotated[
        str | None, Query(description="minute, hour, day or month; absent: one window")
    ] = None,
    tz: Annotated[str, Query(description="IANA time zone of the windows")] = "UTC",
    group_by: Annotated[list[str] | None, Query(description="Meter group_by properties")] = None,
) -> JsonResponse:
    report = container.usage.report(
        tenant,
        key,
        query_instant("from", start),
        query_instant("to", end),
        window=window_size(window),
        tz=tz,
        customers=customer,
        group_by=split_names(group_by),
    )
    return JsonResponse(usage_json(report, bool(group_by)))


def usage_json(report: UsageReport, grouped: bool) -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for series in report.series:
        who: dict[str, Any] = {"customer": series.customer}
        if grouped:
            who["group"] = dict(series.group)
        for period, value in series.values:
            data.append(
                {
                    "window_start": iso(period.start),
                    "window_end": iso(period.end),
                    "value": _text(value),
                    **who,
                }
            )
        totals.append({**who, "value": _text(series.total)})
    body: dict[str, Any] = {
        "meter": report.meter.key,
        "aggregation": report.meter.aggregation.value,
        "from": iso(report.start),
        "to": iso(report.end),
        "window": None if report.window is None else report.window.value,
        "tz": report.tz,
        "data": data,
        "totals": totals,
    }
    if len(totals) == 1:
        body["total"] = totals[0]["value"]
    return body


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"

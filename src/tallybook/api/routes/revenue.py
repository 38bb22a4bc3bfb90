"""``GET /v1/analytics/revenue-recognition`` (and ``.csv``): per invoice line, the amount
recognized in each month of its service period (``services.finance.revenue``), for the
months ``from``..``to`` (``YYYY-MM``, at most 120 months)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.tabular import csv_response
from tallybook.bootstrap import Container
from tallybook.domain.analytics.months import Month
from tallybook.services.finance.revenue import RevenueRow

router = APIRouter(tags=["analytics"])
MonthQ = Annotated[str, Query(min_length=1, max_length=7, examples=["2026-01"])]
COLUMNS = (
    "month",
    "invoice",
    "number",
    "customer",
    "currency",
    "line",
    "source",
    "type",
    "charge",
    "description",
    "service_start",
    "service_end",
    "line_amount",
    "recognized",
)


def row_json(row: RevenueRow) -> dict[str, Any]:
    return {
        "month": row.month,
        "invoice": row.invoice,
        "number": row.number,
        "customer": row.customer,
        "currency": row.currency,
        "line": row.line,
        "source": row.source,
        "type": row.type,
        "charge": row.charge,
        "description": row.description,
        "service_start": iso(row.service_start),
        "service_end": iso(row.service_end),
        "line_amount": row.line_amount,
        "recognized": row.recognized,
    }


def _rows(container: Container, tenant: str, start: str, end: str) -> list[dict[str, Any]]:
    first, last = Month.parse(start, field="from"), Month.parse(end, field="to")
    return [row_json(r) for r in container.revenue.recognition(tenant, first, last)]


@router.get(
    "/v1/analytics/revenue-recognition",
    summary="Revenue recognized per month, per invoice line (deferred revenue schedule)",
)
def revenue_recognition(
    tenant: TenantDep,
    container: ContainerDep,
    start: Annotated[str, Query(alias="from", min_length=1, max_length=7)],
    end: Annotated[str, Query(alias="to", min_length=1, max_length=7)],
) -> JsonResponse:
    return JsonResponse({"data": _rows(container, tenant, start, end)})


@router.get(
    "/v1/analytics/revenue-recognition.csv",
    summary="Revenue recognized per month, per invoice line (CSV)",
)
def revenue_recognition_csv(
    tenant: TenantDep,
    container: ContainerDep,
    start: Annotated[str, Query(alias="from", min_length=1, max_length=7)],
    end: Annotated[str, Query(alias="to", min_length=1, max_length=7)],
) -> Response:
    rows = _rows(container, tenant, start, end)
    return csv_response(
        COLUMNS, ([row[c] for c in COLUMNS] for row in rows), "revenue-recognition.csv"
    )

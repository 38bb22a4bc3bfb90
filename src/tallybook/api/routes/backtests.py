"""``/v1/backtests``: shadow billing of closed periods under candidate plans.

``POST`` answers ``202 {"id", "status"}`` and the job runs in the background; ``GET
/v1/backtests/{id}`` polls status, progress and, once succeeded, the summary,
per-customer and per-period results; ``.csv`` gives the per-customer rows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import IdIn, InstantIn, Strict, instant_field
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.tabular import (
    csv_response,
    decode_cursor,
    page_json,
    page_limit,
)
from tallybook.domain.analytics.retention import percent
from tallybook.services.backtests import BacktestRequest
from tallybook.services.ports import BacktestRow

router = APIRouter(tags=["backtests"])
CLIENT_ID = r"^[A-Za-z0-9_.-]{1,64}$"
HUNDRED = Decimal("100.00")
NONE_DONE = Decimal("0.00")


class SubstitutionIn(Strict):
    plan: IdIn
    candidate: dict[str, Any] = Field(description="a plan document, as in PUT /v1/catalog")


class BacktestIn(Strict):
    id: str | None = Field(None, pattern=CLIENT_ID, description="optional client id")
    from_: InstantIn = Field(alias="from")
    to: InstantIn
    substitutions: list[SubstitutionIn] = Field(min_length=1, max_length=20)
    customers: list[IdIn] | None = Field(None, max_length=10_000)
    include_credits: bool = False


def backtest_json(row: BacktestRow) -> dict[str, Any]:
    result = row.result or {}
    progress = percent(Decimal(min(row.done, row.total)), Decimal(row.total))
    if row.status == "succeeded":
        progress = HUNDRED
    return {
        "id": row.id,
        "status": row.status,
        "progress": progress if progress is not None else NONE_DONE,
        "done": row.done,
        "total": row.total,
        "request": row.request,
        "summary": result.get("summary"),
        "customers": result.get("customers", []),
        "by_period": result.get("by_period", []),
        "error": row.error,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


@router.post("/v1/backtests", summary="Start a backtest (202; poll GET /v1/backtests/{id})")
def create_backtest(body: BacktestIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    start = instant_field("from", body.from_)
    end = instant_field("to", body.to)
    assert start is not None and end is not None
    request = BacktestRequest(
        start,
        end,
        [(s.plan, s.candidate) for s in body.substitutions],
        body.customers,
        body.include_credits,
    )
    row = container.backtests.create(tenant, request, client_id=body.id)
    return JsonResponse({"id": row.id, "status": row.status}, status_code=202)


@router.get("/v1/backtests", summary="Backtests, oldest first (cursor pagination)")
def list_backtests(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query()] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JsonResponse:
    limit = page_limit(limit)
    rows = container.backtests.page(tenant, limit=limit, after=decode_cursor(cursor))
    data = [backtest_json(row) for row in rows]
    return JsonResponse(page_json(data, rows[-1].id if rows else None, limit))


@router.get("/v1/backtests/{backtest_id}.csv", summary="A backtest's per-customer results (CSV)")
def get_backtest_csv(backtest_id: str, tenant: TenantDep, container: ContainerDep) -> Response:
    row = container.backtests.get(tenant, backtest_id)
    header = ["customer", "currency", "original", "candidate", "delta", "delta_pct", "periods"]
    rows = (row.result or {}).get("customers", [])
    return csv_response(header, ([r[h] for h in header] for r in rows), f"{backtest_id}.csv")


@router.get("/v1/backtests/{backtest_id}", summary="A backtest: status, progress, results")
def get_backtest(backtest_id: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(backtest_json(container.backtests.get(tenant, backtest_id)))

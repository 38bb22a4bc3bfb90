"""``/v1/experiments``: sticky pricing experiments (create, list, read, ramp, stop,
results, also as ``.csv``). Subscriptions join one with ``"plan": "experiment:<key>"``."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import (
    DecimalIn,
    IdIn,
    InstantIn,
    Strict,
    decimal_field,
    instant_field,
)
from tallybook.api.responses import JsonResponse, iso
from tallybook.api.tabular import csv_response, decode_cursor, page_json, page_limit
from tallybook.services.experiments import ArmResult, Results
from tallybook.services.ports import ExperimentRow

router = APIRouter(tags=["experiments"])
KEY = r"^[A-Za-z0-9_.-]{1,255}$"


class ExperimentIn(Strict):
    key: str = Field(pattern=KEY)
    control_plan: IdIn
    treatment_plan: IdIn
    share: DecimalIn = "0.5"
    start: InstantIn | None = Field(None, description="default: now")
    end: InstantIn | None = None


class RampIn(Strict):
    share: DecimalIn


def experiment_json(row: ExperimentRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "control_plan": row.control_plan,
        "treatment_plan": row.treatment_plan,
        "share": row.share,
        "start": iso(row.start),
        "end": iso(row.end),
        "status": "stopped" if row.stopped_at is not None else "running",
        "stopped_at": iso(row.stopped_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _share(value: str | int | float) -> Decimal:
    share = decimal_field("share", value)
    assert share is not None
    return share


@router.post("/v1/experiments", summary="Create a pricing experiment", status_code=201)
def create_experiment(
    body: ExperimentIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    row = container.experiments.create(
        tenant,
        body.key,
        body.control_plan,
        body.treatment_plan,
        _share(body.share),
        instant_field("start", body.start),
        instant_field("end", body.end),
    )
    return JsonResponse(experiment_json(row), status_code=201)


@router.get("/v1/experiments", summary="Experiments by key (cursor pagination)")
def list_experiments(
    tenant: TenantDep,
    container: ContainerDep,
    limit: Annotated[int, Query()] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> JsonResponse:
    limit = page_limit(limit)
    rows = container.experiments.page(tenant, limit=limit, after=decode_cursor(cursor))
    data = [experiment_json(row) for row in rows]
    return JsonResponse(page_json(data, rows[-1].key if rows else None, limit))


@router.get("/v1/experiments/{key}", summary="An experiment")
def get_experiment(key: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(experiment_json(container.experiments.get(tenant, key)))


@router.patch("/v1/experiments/{key}", summary="Ramp the treatment share (only up)")
def ramp_experiment(
    key: str, body: RampIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    row = container.experiments.ramp(tenant, key, _share(body.share))
    return JsonResponse(experiment_json(row))


@router.post("/v1/experiments/{key}/stop", summary="Stop assigning new customers")
def stop_experiment(key: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(experiment_json(container.experiments.stop(tenant, key)))


def _arm_json(arm: ArmResult) -> dict[str, Any]:
    return {
        "arm": arm.arm.value,
        "plan": arm.plan,
        "customers": arm.customers,
        "converted": arm.converted,
        "churned": arm.churned,
        "mrr": arm.mrr,
        "arpa": arm.arpa,
    }


def results_json(results: Results) -> dict[str, Any]:
    return {
        "experiment": experiment_json(results.experiment),
        "currency": results.currency,
        "control": _arm_json(results.control),
        "treatment": _arm_json(results.treatment),
        "p_values": {"conversion": results.conversion_p_value, "mrr": results.mrr_p_value},
    }


@router.get("/v1/experiments/{key}/results.csv", summary="Per-arm results (CSV)")
def experiment_results_csv(key: str, tenant: TenantDep, container: ContainerDep) -> Response:
    body = results_json(container.experiments.results(tenant, key))
    header = ["arm", "plan", "customers", "converted", "churned", "mrr", "arpa"]
    rows = [
        [
            *(body[arm][h] for h in header),
            body["currency"],
            body["p_values"]["conversion"],
            body["p_values"]["mrr"],
        ]
        for arm in ("control", "treatment")
    ]
    return csv_response(
        [*header, "currency", "conversion_p_value", "mrr_p_value"], rows, f"{key}-results.csv"
    )


@router.get("/v1/experiments/{key}/results", summary="Per-arm results with p-values")
def experiment_results(key: str, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    return JsonResponse(results_json(container.experiments.results(tenant, key)))

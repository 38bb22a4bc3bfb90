"""``/v1/analytics/*``: MRR, retention, LTV/CAC, forecast, usage percentiles and the
allowance model (CONTRACT.md, Experiments and analytics). Every answer also as ``.csv``."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from starlette.responses import Response

from tallybook.api.deps import ContainerDep, TenantDep
from tallybook.api.requests import (
    DecimalIn,
    InstantIn,
    Strict,
    decimal_field,
    instant_field,
)
from tallybook.api.responses import JsonResponse
from tallybook.api.tabular import csv_response
from tallybook.domain.analytics.months import Month
from tallybook.domain.analytics.mrr import MOVEMENTS
from tallybook.domain.errors import ValidationError
from tallybook.domain.money import round_amount, to_decimal
from tallybook.services.allowance_model import AllowanceRow
from tallybook.services.analytics import ForecastRow, LtvAnswer, MrrRow, RetentionAnswer
from tallybook.services.percentiles import PercentileRow, parse_percentiles

router = APIRouter(tags=["analytics"])

MonthQ = Annotated[str, Query(min_length=1, max_length=7, examples=["2026-01"])]
CurrencyQ = Annotated[str | None, Query(min_length=3, max_length=3)]
KeyQ = Annotated[str | None, Query(min_length=1, max_length=255)]
InstantQ = Annotated[str, Query(min_length=1, max_length=64)]


def _month(text: str, field: str) -> Month:
    return Month.parse(text, field=field)


# -- MRR ------------------------------------------------------------------------------


def mrr_json(row: MrrRow) -> dict[str, Any]:
    t, c = row.totals, row.currency
    mrr = round_amount(t.mrr, c)
    return {
        "month": str(row.month),
        "currency": c,
        "committed_mrr": round_amount(t.committed, c),
        "usage_mrr": round_amount(t.usage, c),
        "mrr": mrr,
        "arr": mrr * 12,
        "customers": t.customers,
        "movements": {k: round_amount(v, c) for k, v in t.movements.as_dict().items()},
    }


def _mrr(
    tenant: TenantDep,
    container: ContainerDep,
    start: Annotated[str, Query(alias="from", min_length=1, max_length=7)],
    end: Annotated[str, Query(alias="to", min_length=1, max_length=7)],
) -> list[dict[str, Any]]:
    rows = container.analytics.mrr(tenant, _month(start, "from"), _month(end, "to"))
    return [mrr_json(row) for row in rows]


MrrRows = Annotated[list[dict[str, Any]], Depends(_mrr)]


@router.get("/v1/analytics/mrr", summary="MRR per month and currency, with movements")
def get_mrr(rows: MrrRows) -> JsonResponse:
    return JsonResponse(rows)


@router.get("/v1/analytics/mrr.csv", summary="MRR per month and currency (CSV)")
def get_mrr_csv(rows: MrrRows) -> Response:
    header = ["month", "currency", "committed_mrr", "usage_mrr", "mrr", "arr", "customers"]
    return csv_response(
        [*header, *MOVEMENTS],
        ([r[h] for h in header] + [r["movements"][m] for m in MOVEMENTS] for r in rows),
        "mrr.csv",
    )


# -- retention ------------------------------------------------------------------------


def retention_json(answer: RetentionAnswer) -> dict[str, Any]:
    r = answer.retention
    return {
        "start": str(answer.start),
        "end": str(answer.end),
        "currency": answer.currency,
        "customers": r.customers,
        "start_mrr": _money(r.start_mrr, answer.currency),
        "end_mrr": _money(r.end_mrr, answer.currency),
        "nrr": r.nrr,
        "grr": r.grr,
        "logo_churn": r.logo_churn,
        "gross_revenue_churn": r.gross_revenue_churn,
        "net_revenue_churn": r.net_revenue_churn,
    }


def _money(value: Decimal | None, currency: str | None) -> Decimal | None:
    if value is None or currency is None:
        return value
    return round_amount(value, currency)


def _retention(
    tenant: TenantDep,
    container: ContainerDep,
    start: MonthQ,
    end: MonthQ,
    currency: CurrencyQ = None,
) -> dict[str, Any]:
    answer = container.analytics.retention(
        tenant, _month(start, "start"), _month(end, "end"), currency
    )
    return retention_json(answer)


Retention = Annotated[dict[str, Any], Depends(_retention)]


@router.get("/v1/analytics/retention", summary="NRR, GRR and churn of a cohort")
def get_retention(body: Retention) -> JsonResponse:
    return JsonResponse(body)


@router.get("/v1/analytics/retention.csv", summary="NRR, GRR and churn of a cohort (CSV)")
def get_retention_csv(body: Retention) -> Response:
    return csv_response(list(body), [list(body.values())], "retention.csv")


# -- LTV and acquisition spend -----------------------------------------------------------


def ltv_json(answer: LtvAnswer) -> dict[str, Any]:
    v, c = answer.value, answer.currency
    body: dict[str, Any] = {
        "month": str(answer.month),
        "currency": c,
        "gross_margin": answer.gross_margin,
        "customers": answer.customers,
        "churned": answer.churned,
        "new_customers": answer.new_customers,
        "arpa": v.arpa,
        "logo_churn": v.logo_churn,
        "ltv": v.ltv,
    }
    if v.cac is not None:
        body["cac"] = v.cac
        body["ltv_to_cac"] = v.ltv_to_cac
    return body


def _ltv(
    tenant: TenantDep,
    container: ContainerDep,
    month: MonthQ,
    gross_margin: Annotated[str, Query(min_length=1, max_length=20)] = "1",
    currency: CurrencyQ = None,
) -> dict[str, Any]:
    try:
        margin = to_decimal(gross_margin, field="gross_margin")
    except ValidationError:
        raise ValidationError(
            "gross_margin must be a fraction such as 0.8", code="invalid_gross_margin"
        ) from None
    answer = container.analytics.ltv(tenant, _month(month, "month"), margin, currency)
    return ltv_json(answer)


Ltv = Annotated[dict[str, Any], Depends(_ltv)]


@router.get("/v1/analytics/ltv", summary="ARPA, logo churn, LTV (and CAC with spend)")
def get_ltv(body: Ltv) -> JsonResponse:
    return JsonResponse(body)


@router.get("/v1/analytics/ltv.csv", summary="ARPA, logo churn, LTV (CSV)")
def get_ltv_csv(body: Ltv) -> Response:
    return csv_response(list(body), [list(body.values())], "ltv.csv")


class SpendIn(Strict):
    month: str = Field(min_length=7, max_length=7, examples=["2026-01"])
    amount: DecimalIn
    currency: str | None = Field(None, min_length=3, max_length=3)


@router.put("/v1/analytics/acquisition-spend", summary="Record a month's acquisition spend")
def put_spend(body: SpendIn, tenant: TenantDep, container: ContainerDep) -> JsonResponse:
    month = _month(body.month, "month")
    amount = decimal_field("amount", body.amount)
    assert amount is not None
    currency, stored = container.analytics.set_acquisition_spend(
        tenant, month, amount, body.currency
    )
    return JsonResponse({"month": str(month), "currency": currency, "amount": stored})


# -- forecast -------------------------------------------------------------------------


def forecast_json(row: ForecastRow) -> dict[str, Any]:
    return {
        "month": str(row.month),
        "currency": row.currency,
        "committed_mrr": row.committed,
        "usage_mrr": row.usage,
        "mrr": row.committed + row.usage,
    }


def _forecast(
    tenant: TenantDep,
    container: ContainerDep,
    months: Annotated[int, Query()] = 3,
    method: Annotated[str, Query(max_length=10)] = "mean",
) -> list[dict[str, Any]]:
    return [forecast_json(r) for r in container.analytics.forecast(tenant, months, method)]


ForecastRows = Annotated[list[dict[str, Any]], Depends(_forecast)]


@router.get("/v1/analytics/forecast", summary="MRR forecast per month and currency")
def get_forecast(rows: ForecastRows) -> JsonResponse:
    return JsonResponse(rows)


@router.get("/v1/analytics/forecast.csv", summary="MRR forecast (CSV)")
def get_forecast_csv(rows: ForecastRows) -> Response:
    header = ["month", "currency", "committed_mrr", "usage_mrr", "mrr"]
    return csv_response(header, ([r[h] for h in header] for r in rows), "forecast.csv")


# -- usage percentiles ----------------------------------------------------------------


def percentile_json(row: PercentileRow) -> dict[str, Any]:
    return {
        "plan": row.plan,
        "charge": row.charge,
        "currency": row.currency,
        **row.values,
        "mean": row.mean,
        "customers": row.customers,
        "periods": row.periods,
    }


def _percentiles(
    tenant: TenantDep,
    container: ContainerDep,
    start: Annotated[str, Query(alias="from", min_length=1, max_length=64)],
    end: Annotated[str, Query(alias="to", min_length=1, max_length=64)],
    plan: KeyQ = None,
    charge: KeyQ = None,
    percentiles: Annotated[str, Query(max_length=200)] = "50,75,90",
) -> list[dict[str, Any]]:
    service = container.percentiles
    window = service.window(_instant("from", start), _instant("to", end))
    rows = service.percentiles(
        tenant, window, parse_percentiles(percentiles), plan=plan, charge=charge
    )
    return [percentile_json(row) for row in rows]


def _instant(name: str, value: str) -> Any:
    return instant_field(name, value)


PercentileRows = Annotated[list[dict[str, Any]], Depends(_percentiles)]


@router.get("/v1/analytics/usage-percentiles", summary="Per-period usage percentiles")
def get_percentiles(rows: PercentileRows) -> JsonResponse:
    return JsonResponse(rows)


@router.get("/v1/analytics/usage-percentiles.csv", summary="Per-period usage percentiles (CSV)")
def get_percentiles_csv(rows: PercentileRows) -> Response:
    header = (
        list(rows[0]) if rows else ["plan", "charge", "currency", "mean", "customers", "periods"]
    )
    return csv_response(header, ([r[h] for h in header] for r in rows), "usage-percentiles.csv")


# -- allowance model ------------------------------------------------------------------


class AllowanceModelIn(Strict):
    plan: str = Field(min_length=1, max_length=255)
    charge: str = Field(min_length=1, max_length=255)
    from_: InstantIn = Field(alias="from")
    to: InstantIn
    candidates: list[Annotated[str | int | float, Field(union_mode="left_to_right")]] = Field(
        min_length=1, max_length=20, examples=[["current", "p50", "p75", "p90", "12000"]]
    )


def allowance_json(row: AllowanceRow) -> dict[str, Any]:
    return {
        "candidate": row.candidate,
        "allowance": row.allowance,
        "over_allowance_units": row.over_allowance_units,
        "overage_revenue": row.overage_revenue,
        "customers_over": row.customers_over,
        "total": row.total,
        "currency": row.currency,
    }


def _allowance(
    tenant: str, container: ContainerDep, body: AllowanceModelIn
) -> list[dict[str, Any]]:
    service = container.percentiles
    window = service.window(_instant("from", body.from_), _instant("to", body.to))
    candidates = [c if isinstance(c, str) else str(c) for c in body.candidates]
    rows = service.allowance_model(tenant, body.plan, body.charge, window, candidates)
    return [allowance_json(row) for row in rows]


@router.post("/v1/analytics/allowance-model", summary="Revenue at candidate allowances")
def post_allowance_model(
    body: AllowanceModelIn, tenant: TenantDep, container: ContainerDep
) -> JsonResponse:
    return JsonResponse(_allowance(tenant, container, body))


@router.post("/v1/analytics/allowance-model.csv", summary="Revenue at candidate allowances (CSV)")
def post_allowance_model_csv(
    body: AllowanceModelIn, tenant: TenantDep, container: ContainerDep
) -> Response:
    rows = _allowance(tenant, container, body)
    header = [
        "candidate",
        "allowance",
        "over_allowance_units",
        "overage_revenue",
        "customers_over",
        "total",
        "currency",
    ]
    return csv_response(header, ([r[h] for h in header] for r in rows), "allowance-model.csv")

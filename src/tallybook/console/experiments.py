"""Experiments: run a backtest (a candidate plan document against closed periods; live
progress; the per-customer delta distribution as a histogram) and the allowance model at
P50/P75/P90 (``BacktestService``, ``PercentileService``; rules in ``docs/analytics.md``).

The backtest form takes the candidate as JSON, prefilled with the plan as published;
the job runs in the service's background worker, and its page polls itself with htmx
(without script it is reloaded by hand).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.api.errors import status_for
from tallybook.bootstrap import Container
from tallybook.console import auditing, nav, web
from tallybook.documents import formats
from tallybook.domain.analytics.months import Month
from tallybook.domain.errors import TallybookError, ValidationError
from tallybook.services.backtests import BacktestRequest
from tallybook.services.catalog import plan_document

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("experiments", "Experiments", "/console/experiments"))
LOCALE = formats.DEFAULT_LOCALE
BINS = 10
WINDOW_MONTHS = 12
ALLOWANCE_CANDIDATES = ("current", "p50", "p75", "p90")
MAX_DOCUMENT_CHARS = 65_536


def _month(text: str | None, default: Month, field: str) -> Month:
    return Month.parse(text, field=field) if text else default


def _defaults(container: Container) -> tuple[str, str]:
    now = Month.of(container.clock.now())
    first = now
    for _ in range(WINDOW_MONTHS):
        first = first.previous()
    return str(first), str(now.next())


def _page(
    request: Request,
    container: Container,
    who: web.Operator,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    tenant = who.tenant_id
    plans = container.catalog.list_plans(tenant)
    start, end = _defaults(container)
    chosen = context.pop("plan", None) or (plans[0].key if plans else "")
    candidate = context.pop("candidate", None)
    if candidate is None and chosen:
        try:
            plan = container.catalog.get_plan(tenant, chosen)
            candidate = json.dumps(plan_document(plan), indent=2, default=str)
        except TallybookError:
            candidate = ""
    backtests = container.backtests.page(tenant, limit=20, after=None)
    return web.render(
        "experiments.html",
        request=request,
        container=container,
        who=who,
        active="experiments",
        status=status,
        plans=plans,
        plan=chosen,
        candidate=candidate or "",
        start=context.pop("start", None) or start,
        end=context.pop("end", None) or end,
        backtests=backtests,
        **context,
    )


@router.get("/experiments")
def experiments(
    request: Request,
    container: ContainerDep,
    plan: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return _page(request, container, who, plan=plan)


@router.post("/experiments/backtests")
async def start_backtest(request: Request, container: ContainerDep) -> Response:
    """Validate and queue a backtest of one plan's candidate document; to its page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    fields = await web.form(request)
    if fields is None:
        return web.forbidden(request, container, who)
    plan = fields.get("plan", "")
    text = fields.get("candidate", "")
    start_text, end_text = fields.get("from", ""), fields.get("to", "")
    try:
        if len(text) > MAX_DOCUMENT_CHARS:
            raise ValidationError("the candidate document is too long", code="too_long")
        try:
            candidate = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValidationError(
                f"the candidate is not JSON: {error.msg} (line {error.lineno})",
                code="invalid_json",
            ) from None
        if not isinstance(candidate, dict):
            raise ValidationError("the candidate must be a JSON object", code="invalid_json")
        first = Month.parse(start_text, field="from")
        last = Month.parse(end_text, field="to")
        row = container.backtests.create(
            who.tenant_id,
            BacktestRequest(first.start, last.start, [(plan, candidate)]),
        )
    except TallybookError as error:
        return _page(
            request,
            container,
            who,
            status=status_for(error),
            plan=plan,
            candidate=text,
            start=start_text,
            end=end_text,
            error=error.message,
        )
    auditing.action(container, who, "console backtests create", f"backtests/{row.id}")
    return RedirectResponse(f"/console/experiments/backtests/{row.id}", status_code=303)


def histogram(deltas: list[Decimal], bins: int = BINS) -> dict[str, Any]:
    """Per-customer deltas counted in ``bins`` equal-width bins from min to max (one bin
    when they are all equal): labels ``"lo to hi"`` and counts."""
    if not deltas:
        return {"labels": [], "values": []}
    low, high = min(deltas), max(deltas)
    if low == high:
        return {"labels": [f"{low}"], "values": [len(deltas)]}
    width = (high - low) / bins
    counts = [0] * bins
    for delta in deltas:
        index = min(int((delta - low) / width), bins - 1)
        counts[index] += 1
    labels = [
        f"{(low + width * i).quantize(Decimal('0.01'))} to "
        f"{(low + width * (i + 1)).quantize(Decimal('0.01'))}"
        for i in range(bins)
    ]
    return {"labels": labels, "values": counts}


@router.get("/experiments/backtests/{backtest_id}.csv")
def backtest_csv(backtest_id: str, request: Request, container: ContainerDep) -> Response:
    """A finished backtest's per-customer rows as CSV."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    row = container.backtests.get(who.tenant_id, backtest_id)
    customers = (row.result or {}).get("customers", [])
    header = ["customer", "currency", "original", "candidate", "delta", "delta_pct", "periods"]
    return web.csv_response(
        f"backtest-{row.id}.csv", header, ([c.get(h) for h in header] for c in customers)
    )


@router.get("/experiments/backtests/{backtest_id}")
def backtest(backtest_id: str, request: Request, container: ContainerDep) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    try:
        row = container.backtests.get(who.tenant_id, backtest_id)
    except TallybookError as error:
        return web.render(
            "message.html",
            request=request,
            container=container,
            who=who,
            status=status_for(error),
            title="Backtest not shown",
            message=error.message,
            back="/console/experiments",
        )
    result = row.result or {}
    deltas = [Decimal(c["delta"]) for c in result.get("customers", [])]
    chart = histogram(deltas)
    chart["label"] = "customers"
    percent = 100 if row.total == 0 else min(100, row.done * 100 // row.total)
    return web.render(
        "backtest.html",
        request=request,
        container=container,
        who=who,
        active="experiments",
        row=row,
        result=result,
        percent=percent,
        chart=chart,
        running=row.status in ("queued", "running"),
    )


@router.get("/experiments/allowance")
def allowance(
    request: Request,
    container: ContainerDep,
    plan: Annotated[str, Query(min_length=1, max_length=255)],
    charge: Annotated[str, Query(min_length=1, max_length=255)],
    start: Annotated[str | None, Query(alias="from", max_length=7)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=7)] = None,
) -> Response:
    """The allowance model of one usage charge at the current allowance and P50/P75/P90."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    default_start, default_end = _defaults(container)
    try:
        service = container.percentiles
        first = _month(start, Month.parse(default_start), "from")
        last = _month(end, Month.parse(default_end), "to")
        window = service.window(first.start, last.start)
        rows = service.allowance_model(
            who.tenant_id, plan, charge, window, list(ALLOWANCE_CANDIDATES)
        )
    except TallybookError as error:
        return _page(request, container, who, status=status_for(error), error=error.message)
    shown = [
        {
            "candidate": r.candidate,
            "allowance": formats.quantity(r.allowance, LOCALE),
            "over": formats.quantity(r.over_allowance_units, LOCALE),
            "overage": formats.money(r.overage_revenue, r.currency, LOCALE),
            "customers_over": r.customers_over,
            "total": formats.money(r.total, r.currency, LOCALE),
        }
        for r in rows
    ]
    chart = {
        "labels": [f"{r.candidate} ({r.allowance})" for r in rows],
        "values": [str(r.total) for r in rows],
        "label": "revenue",
    }
    return _page(
        request,
        container,
        who,
        plan=plan,
        allowance_rows=shown,
        allowance_chart=chart,
        allowance_charge=charge,
        start=str(first),
        end=str(last),
    )

"""Overview: MRR/ARR with movements, NRR/GRR, failed webhook messages, Stripe drift.

The MRR figures are the tenant's stored snapshot (``services.mrr_snapshots``: 12 months
of ``AnalyticsService.mrr`` with movements and the main currency's retention), refreshed
by the scheduler and on demand (the "Refresh" button, for roles that may start a billing
run), and shown with their "as of" time: a page request never computes MRR (seconds at
10,000 customers). Before the first snapshot the panel says the figures are being
computed, starts the computation in the background and polls ``/console/overview/mrr``.
The movements chart is drawn by Chart.js from a JSON data island (no inline script).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from tallybook.api.deps import ContainerDep
from tallybook.bootstrap import Container
from tallybook.console import nav, web
from tallybook.documents import formats
from tallybook.portal.pages import allowance_level
from tallybook.services.mrr_snapshots import MrrSnapshot

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("overview", "Overview", "/console"))
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")
LOCALE = formats.DEFAULT_LOCALE
OVERAGE_BATCH = 20  # customers in overage a request (``UsageService.overage_page``)
REFRESH_CALL = ("POST", "/v1/billing-runs")  # who may refresh: who may start a billing run


def mrr_view(snapshot: MrrSnapshot) -> dict[str, Any]:
    """The snapshot formatted for ``_mrr.html``: the main currency's rows (newest
    first), the chart data (amounts as decimal strings), NRR/GRR and the "as of" time."""
    currency = snapshot.currency
    as_of = snapshot.computed_at.strftime("%Y-%m-%d %H:%M")
    if currency is None:
        return {"currency": None, "as_of": as_of}
    mine = [r for r in snapshot.rows if r.currency == currency]
    chart = {
        "labels": [str(r.month) for r in mine],
        "mrr": [str(r.totals.mrr) for r in mine],
        "movements": {
            name: [str(r.totals.movements.as_dict()[name]) for r in mine] for name in MOVEMENTS
        },
        "currency": currency,
    }
    now_row = mine[-1]
    retention = snapshot.retention
    return {
        "currency": currency,
        "mrr": formats.money(now_row.totals.mrr, currency, LOCALE),
        "arr": formats.money(now_row.totals.mrr * 12, currency, LOCALE),
        "customers": now_row.totals.customers,
        "rows": [
            {
                "month": str(r.month),
                "mrr": formats.money(r.totals.mrr, currency, LOCALE),
                **{
                    name: formats.money(r.totals.movements.as_dict()[name], currency, LOCALE)
                    for name in MOVEMENTS
                },
            }
            for r in reversed(mine)
        ],
        "chart": chart,
        "nrr": None if retention is None else retention.nrr,
        "grr": None if retention is None else retention.grr,
        "window": f"{snapshot.first} to {snapshot.last}",
        "as_of": as_of,
    }


def snapshot_view(container: Container, tenant: str) -> dict[str, Any] | None:
    """The tenant's stored snapshot as ``mrr_view`` (with ``computing`` set while a
    refresh runs in this process), or None before the first one: then the computation
    is started in the background (never in the request)."""
    snapshot = container.mrr_snapshots.get(tenant)
    if snapshot is None:
        container.mrr_snapshots.refresh_in_background(tenant)
        return None
    view = mrr_view(snapshot)
    view["computing"] = container.mrr_snapshots.computing(tenant)
    return view


def drift_view(container: Container, tenant: str) -> dict[str, Any] | None:
    """The newest reconciliation run of this tenant (None without Stripe)."""
    if container.payments is None:
        return None
    reconciliation = container.payments.reconciliation
    newest = [
        run for t, run in reconciliation.store.latest(reconciliation.provider_name) if t == tenant
    ]
    if not newest:
        return {"run": None}
    run = newest[0]
    drift = {c: formats.money(v, c, LOCALE) for c, v in run.drift.items() if v != Decimal(0)}
    return {"run": run, "drift": drift}


@router.get("")
def overview(request: Request, container: ContainerDep) -> Response:
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    failed = container.webhooks.messages(who.tenant_id, limit=10, cursor=None, status="failed")
    return web.render(
        "overview.html",
        request=request,
        container=container,
        who=who,
        active="overview",
        mrr=snapshot_view(container, who.tenant_id),  # None: being computed
        may_refresh=who.can(*REFRESH_CALL),
        failed=failed.data,
        more_failed=failed.next_cursor is not None,
        drift=drift_view(container, who.tenant_id),
    )


@router.get("/overview/mrr")
def mrr_panel(request: Request, container: ContainerDep) -> Response:
    """The MRR panel (MRR, ARR, NRR, GRR, movements chart and table) from the stored
    snapshot; "being computed" (polled by htmx) before the first one."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return web.render(
        "mrr.html",
        request=request,
        container=container,
        who=who,
        active="overview",
        mrr=snapshot_view(container, who.tenant_id),
        may_refresh=who.can(*REFRESH_CALL),
    )


@router.post("/overview/mrr/refresh")
async def mrr_refresh(request: Request, container: ContainerDep) -> Response:
    """Start refreshing the tenant's snapshot in the background (roles that may start a
    billing run; CSRF-checked form) and go back to the overview, which shows the
    current figures with "refreshing"."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    if await web.form(request) is None:
        return web.forbidden(request, container, who)
    container.mrr_snapshots.refresh_in_background(who.tenant_id)
    return RedirectResponse("/console", status_code=303)


@router.get("/mrr.csv")
def mrr_csv(request: Request, container: ContainerDep) -> Response:
    """The snapshot's MRR and movements per month and currency (12 months) as CSV; the
    panel ("being computed") before the first snapshot."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    snapshot = container.mrr_snapshots.get(who.tenant_id)
    if snapshot is None:
        container.mrr_snapshots.refresh_in_background(who.tenant_id)
        return RedirectResponse("/console/overview/mrr", status_code=303)
    return web.csv_response(
        "mrr.csv",
        ["month", "currency", "mrr", "committed", "usage", "customers", *MOVEMENTS],
        (
            [
                str(r.month),
                r.currency,
                r.totals.mrr,
                r.totals.committed,
                r.totals.usage,
                r.totals.customers,
                *(r.totals.movements.as_dict()[m] for m in MOVEMENTS),
            ]
            for r in snapshot.rows
        ),
    )


@router.get("/overview/overage")
def overage(
    request: Request,
    container: ContainerDep,
    after: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    """Customers over an allowance now, ``OVERAGE_BATCH`` a page by id: from the marks
    the alert evaluator keeps (``services.overage``; paged in SQL), or, when the tenant
    turned the default allowance alerts off, ``OVERAGE_BATCH`` customers rated a page."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    page = container.overage.page(who.tenant_id, limit=OVERAGE_BATCH, after=after)
    over = [
        (customer, max(allowance_level(c.used, c.included)[0] for c in customer.charges))
        for customer in page.customers
    ]
    return web.render(
        "overage.html",
        active="overview",
        request=request,
        container=container,
        who=who,
        over=over,
        page=page,
        next_url=page.next_after and web.link("/console/overview/overage", after=page.next_after),
    )

"""Overview: MRR/ARR with movements, NRR/GRR, failed webhook messages, Stripe drift.

Figures come from the services (``AnalyticsService.mrr`` / ``retention``,
``WebhookService.messages``, the reconciliation service when Stripe is configured).
The movements chart is drawn by Chart.js from a JSON data island (no inline script).

The page itself renders only the cheap panels; the MRR panel (12 months of MRR with
movements and retention: seconds at thousands of customers on a cold cache) is its own
endpoint, ``/console/overview/mrr``, loaded by htmx after the page (without script: a
link to it), and shown inline when this process already holds the tenant's figures.
"""

from __future__ import annotations

import threading
import weakref
from decimal import Decimal
from typing import Annotated, Any

from cachetools import TTLCache
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from tallybook.api.deps import ContainerDep
from tallybook.bootstrap import Container
from tallybook.console import nav, web
from tallybook.documents import formats
from tallybook.domain.analytics.months import Month
from tallybook.domain.errors import TallybookError
from tallybook.portal.pages import allowance_level

router = APIRouter(prefix="/console", include_in_schema=False)
nav.register(nav.NavItem("overview", "Overview", "/console"))
MONTHS = 12
MOVEMENTS = ("new", "expansion", "reactivation", "contraction", "churn")
LOCALE = formats.DEFAULT_LOCALE
# rating a customer's live usage takes ~5-10 ms at 10,000 customers (bench/console.py):
# 20 a request keeps the panel under 300 ms
OVERAGE_BATCH = 20
# MRR over 12 months reads every subscription's months (about 1 s per 300 customers on
# SQLite, bench/console.py): the overview keeps a tenant's figures for a minute.
MRR_SECONDS = 60
_mrr_caches: weakref.WeakKeyDictionary[Any, TTLCache[tuple[str, str], dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)  # one cache per store (engine): tests and tools may hold several containers
_mrr_lock = threading.Lock()


def _window(now_month: Month) -> tuple[Month, Month]:
    first = now_month
    for _ in range(MONTHS - 1):
        first = first.previous()
    return first, now_month


def kept_mrr_view(container: Container, tenant: str) -> dict[str, Any] | None:
    """The tenant's ``mrr_view`` when this process computed it less than a minute ago
    (this month), else None; never computes."""
    key = (tenant, str(Month.of(container.clock.now())))
    with _mrr_lock:
        cache = _mrr_caches.setdefault(container.engine, TTLCache(maxsize=256, ttl=MRR_SECONDS))
        return cache.get(key)


def cached_mrr_view(container: Container, tenant: str) -> dict[str, Any]:
    """``mrr_view``, computed at most once a minute per tenant and month (per process)."""
    key = (tenant, str(Month.of(container.clock.now())))
    with _mrr_lock:
        cache = _mrr_caches.setdefault(container.engine, TTLCache(maxsize=256, ttl=MRR_SECONDS))
        found = cache.get(key)
    if found is None:
        found = mrr_view(container, tenant)
        with _mrr_lock:
            cache[key] = found
    return found


def mrr_view(container: Container, tenant: str) -> dict[str, Any]:
    """MRR rows of the last ``MONTHS`` months of the main currency (most MRR this month),
    the chart data (amounts as decimal strings) and NRR/GRR over the window."""
    first, last = _window(Month.of(container.clock.now()))
    rows = container.analytics.mrr(tenant, first, last)
    if not rows:
        return {"currency": None}
    latest = [r for r in rows if r.month == last]
    currency = max(latest or rows, key=lambda r: r.totals.mrr).currency
    mine = [r for r in rows if r.currency == currency]
    chart = {
        "labels": [str(r.month) for r in mine],
        "mrr": [str(r.totals.mrr) for r in mine],
        "movements": {
            name: [str(r.totals.movements.as_dict()[name]) for r in mine] for name in MOVEMENTS
        },
        "currency": currency,
    }
    now_row = mine[-1]
    try:
        retention = container.analytics.retention(tenant, first, last, currency).retention
    except TallybookError:
        retention = None
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
        "window": f"{first} to {last}",
        "computed_at": container.clock.now().strftime("%H:%M:%S"),
    }


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
        mrr=kept_mrr_view(container, who.tenant_id),  # None: the panel loads by htmx
        failed=failed.data,
        more_failed=failed.next_cursor is not None,
        drift=drift_view(container, who.tenant_id),
    )


@router.get("/overview/mrr")
def mrr_panel(request: Request, container: ContainerDep) -> Response:
    """The MRR panel (MRR, ARR, NRR, GRR, movements chart and table), computed here when
    not kept: the overview loads it by htmx (``#mrr-panel``); as a page it is the link
    the overview offers without script."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    return web.render(
        "mrr.html",
        request=request,
        container=container,
        who=who,
        active="overview",
        mrr=cached_mrr_view(container, who.tenant_id),
    )


@router.get("/mrr.csv")
def mrr_csv(request: Request, container: ContainerDep) -> Response:
    """MRR and movements per month and currency, last ``MONTHS`` months, as CSV."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    first, last = _window(Month.of(container.clock.now()))
    rows = container.analytics.mrr(who.tenant_id, first, last)
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
            for r in rows
        ),
    )


@router.get("/overview/overage")
def overage(
    request: Request,
    container: ContainerDep,
    after: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    """Customers over an allowance now, checked ``OVERAGE_BATCH`` customers (by id) per
    request: rating every customer's live usage does not fit one page render at 10,000
    customers, so the panel checks a batch and offers the next one."""
    who = web.operator(request, container)
    if who is None:
        return web.to_login()
    batch = container.previews.customers(
        who.tenant_id, limit=OVERAGE_BATCH + 1, starting_after=after
    )
    over = []
    for customer in batch[:OVERAGE_BATCH]:
        usage = container.previews.current_usage(who.tenant_id, customer.id)
        levels = [allowance_level(c.used, c.included) for c in usage.charges]
        worst = max((percent for percent, level in levels if level == "over"), default=None)
        if worst is not None:
            over.append((customer, worst))
    checked = batch[:OVERAGE_BATCH]
    next_after = checked[-1].id if len(batch) > OVERAGE_BATCH and checked else None
    return web.render(
        "overage.html",
        active="overview",
        request=request,
        container=container,
        who=who,
        over=over,
        checked=len(checked),
        first=checked[0].id if checked else None,
        last=checked[-1].id if checked else None,
        next_url=next_after and web.link("/console/overview/overage", after=next_after),
    )

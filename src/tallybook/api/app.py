"""``create_app(settings)``: the FastAPI application, built explicitly (no I/O at import).

Routers live in ``tallybook.api.routes``; each module exposes ``router`` and is listed in
``ROUTERS``. Errors are mapped to HTTP in one place (``tallybook.api.errors``).
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tallybook import __version__
from tallybook.adapters.clock import Clock
from tallybook.api import errors
from tallybook.api.audit_hook import AuditHook
from tallybook.api.delivery import start_delivery
from tallybook.api.hygiene import request_hygiene
from tallybook.api.limits import BodyLimit
from tallybook.api.metrics import Metrics, RequestMetrics
from tallybook.api.offload import install_limiter
from tallybook.api.security_headers import SecurityHeaders
from tallybook.bootstrap import Container, build
from tallybook.config import Settings

ROUTERS = (
    "tallybook.api.routes.health",
    "tallybook.api.routes.customers",
    "tallybook.api.routes.keys",
    "tallybook.api.routes.subscriptions",
    "tallybook.api.routes.invoice_documents",  # before invoices: /{id}.html, /{id}.pdf
    "tallybook.api.routes.credit_note_documents",  # before credit_notes: /{id}.html, .pdf
    "tallybook.api.routes.credit_notes",  # before invoices: /{id}/credit-notes
    "tallybook.api.routes.invoices",
    "tallybook.api.routes.tax_rates",
    "tallybook.api.routes.email_deliveries",
    "tallybook.api.routes.revenue",
    "tallybook.api.routes.previews",
    "tallybook.api.routes.credits",
    "tallybook.api.routes.top_ups",
    "tallybook.api.routes.commitments",
    "tallybook.api.routes.entitlements",
    "tallybook.api.routes.spend_limits",
    "tallybook.api.routes.portal_links",
    "tallybook.api.routes.billing_runs",
    "tallybook.api.routes.tenant",
    "tallybook.api.routes.tenant_logo",
    "tallybook.api.routes.events",
    "tallybook.api.routes.cloudevents",
    "tallybook.api.routes.catalog",
    "tallybook.api.routes.meters",
    "tallybook.api.routes.openmeter_query",
    "tallybook.api.routes.webhooks",
    "tallybook.api.routes.alerts",
    "tallybook.api.routes.analytics",
    "tallybook.api.routes.backtests",
    "tallybook.api.routes.experiments",
    "tallybook.api.routes.payments",
    "tallybook.api.routes.audit",
    "tallybook.api.routes.governance",
    "tallybook.api.routes.overrides",
    "tallybook.portal.routes",
    "tallybook.portal.account",
    "tallybook.console.routes",
    "tallybook.api.docs_ui",
    "tallybook.console.redoc",
)


def freeze_heap() -> None:
    """Collect, then ``gc.freeze()`` every object alive (the app, its routes, models and
    pools): later collections skip them, so their pauses stay short (a p99 matter for
    live usage and entitlement checks, docs/performance.md). Collecting first leaves no
    garbage frozen (Python docs, ``gc.freeze``: frozen objects are ignored by all future
    collections)."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    clock: Clock | None = None,
    background: bool = False,
) -> FastAPI:
    """Build the app. ``background=True`` also runs the billing scheduler (``tallybook serve``)."""
    settings = settings or (container.settings if container else Settings())
    serving = background or container is None  # a process of its own, not a test's app
    container = container or build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_limiter(app)
        scheduler = _start_scheduler(container) if background else None
        delivery = None
        if background and settings.webhook_worker:
            delivery = start_delivery(container, app.state.metrics.count_webhook)
        if background and settings.alerts_enabled:
            container.alert_evaluator.start()
        if serving and settings.gc_freeze:
            freeze_heap()
        try:
            yield
        finally:
            container.alert_evaluator.stop()
            if delivery is not None:
                await delivery.stop()
            if scheduler is not None:
                await scheduler.stop()

    app = FastAPI(
        title="Tallybook",
        version=__version__,
        summary="Metering and billing for usage-based and hybrid SaaS pricing",
        lifespan=lifespan,
        dependencies=[Depends(request_hygiene)],
        docs_url=None,  # served by api.docs_ui from a package, not a CDN
        redoc_url=None,  # served by console.redoc from npm, not a CDN
    )
    app.state.container = container
    app.state.metrics = Metrics()
    app.state.metrics.watch_webhook_lag(
        lambda: container.outbox_queue.lag_seconds(container.clock.now())
    )
    if container.payments is not None:
        reconciliation = container.payments.reconciliation
        app.state.metrics.watch_reconciliation(
            lambda: reconciliation.store.latest(reconciliation.provider_name)
        )
    errors.install(app)
    app.add_middleware(AuditHook, record=container.audit.record)  # innermost: sees routes
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        document_bytes=settings.max_document_bytes,
    )
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxies:
        trusted = [host.strip() for host in settings.trusted_proxies.split(",") if host.strip()]
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    for name in ROUTERS:
        module = importlib.import_module(name)
        app.include_router(module.router)
        for error, handler in getattr(module, "EXCEPTION_HANDLERS", {}).items():
            app.add_exception_handler(error, handler)  # the console's 403 page
    return app


def _start_scheduler(container: Container):  # type: ignore[no-untyped-def]
    from tallybook.services.scheduler import Scheduler

    scheduler = Scheduler(container)
    scheduler.start()
    return scheduler

"""``create_app(settings)``: the FastAPI application, built explicitly (no I/O at import).

Routers live in ``tallybook.api.routes``; each module exposes ``router`` and is listed in
``ROUTERS``. Errors are mapped to HTTP in one place (``tallybook.api.errors``).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tallybook import __version__
from tallybook.adapters.clock import Clock
from tallybook.api import errors
from tallybook.api.limits import BodyLimit
from tallybook.api.metrics import Metrics, middleware
from tallybook.bootstrap import Container, build
from tallybook.config import Settings

ROUTERS = (
    "tallybook.api.routes.health",
    "tallybook.api.routes.customers",
    "tallybook.api.routes.subscriptions",
    "tallybook.api.routes.invoice_documents",  # before invoices: /{id}.html, /{id}.pdf
    "tallybook.api.routes.invoices",
    "tallybook.api.routes.previews",
    "tallybook.api.routes.credits",
    "tallybook.api.routes.commitments",
    "tallybook.api.routes.billing_runs",
    "tallybook.api.routes.tenant",
    "tallybook.api.routes.events",
    "tallybook.api.routes.cloudevents",
    "tallybook.api.routes.catalog",
    "tallybook.api.routes.meters",
    "tallybook.api.routes.openmeter_query",
    "tallybook.portal.routes",
)


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    clock: Clock | None = None,
    background: bool = False,
) -> FastAPI:
    """Build the app. ``background=True`` also runs the billing scheduler (``tallybook serve``)."""
    settings = settings or (container.settings if container else Settings())
    container = container or build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = _start_scheduler(container) if background else None
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()

    app = FastAPI(
        title="Tallybook",
        version=__version__,
        summary="Metering and billing for usage-based and hybrid SaaS pricing",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.metrics = Metrics()
    errors.install(app)
    app.middleware("http")(middleware(app.state.metrics))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)
    return app


def _start_scheduler(container: Container):  # type: ignore[no-untyped-def]
    from tallybook.services.scheduler import Scheduler

    scheduler = Scheduler(container)
    scheduler.start()
    return scheduler

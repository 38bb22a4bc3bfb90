"""Prometheus metrics: one registry per app, exposed at ``GET /metrics``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tallybook.domain.webhooks import MessageStatus, Outcome


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tallybook_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tallybook_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.events = Counter(
            "tallybook_events", "Ingested events by outcome", ["outcome"], registry=self.registry
        )
        self.invoices = Counter(
            "tallybook_invoices_created", "Invoices created by billing runs", registry=self.registry
        )

        self.webhook_attempts = Counter(
            "tallybook_webhook_attempts",
            "Webhook delivery attempts by result (success: a 2xx answer)",
            ["result"],
            registry=self.registry,
        )
        self.webhook_messages = Counter(
            "tallybook_webhook_messages",
            "Webhook messages that reached a final status (delivered or failed)",
            ["status"],
            registry=self.registry,
        )
        self.webhook_disabled = Counter(
            "tallybook_webhook_endpoints_disabled",
            "Endpoints disabled by a 410 answer",
            registry=self.registry,
        )
        self.webhook_lag = Gauge(
            "tallybook_webhook_lag_seconds",
            "Age of the oldest webhook work not done (undispatched fact or overdue attempt)",
            registry=self.registry,
        )

    def count_webhook(self, outcome: Outcome) -> None:
        """Count one recorded delivery attempt (the worker's ``on_outcome``)."""
        delivered = outcome.status is MessageStatus.DELIVERED
        self.webhook_attempts.labels("success" if delivered else "failure").inc()
        if outcome.status is not MessageStatus.PENDING:
            self.webhook_messages.labels(outcome.status.value).inc()
        if outcome.disable_endpoint:
            self.webhook_disabled.inc()

    def watch_webhook_lag(self, lag: Callable[[], float]) -> None:
        """Compute the lag gauge from the store at every scrape (any worker's progress)."""
        self.webhook_lag.set_function(lag)

    def watch_reconciliation(self, latest: Callable[[], Sequence[tuple[str, Any]]]) -> None:
        """``tallybook_reconciliation_drift{tenant,provider,currency}``: the drift amount
        of each tenant's newest reconciliation run, read from the store at every scrape
        (whichever process ran it)."""
        self.registry.register(ReconciliationDrift(latest))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class ReconciliationDrift:
    """A collector: one gauge sample per tenant and currency of the newest run (0 for a run
    without drift, labelled with the empty currency)."""

    def __init__(self, latest: Callable[[], Sequence[tuple[str, Any]]]):
        self._latest = latest

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "tallybook_reconciliation_drift",
            "Drift amount (major units) of the newest reconciliation run, per tenant and currency",
            labels=["tenant", "provider", "currency"],
        )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for tenant, run in self._latest():
            if not run.drift:
                family.add_metric([tenant, run.provider, ""], 0)
            for currency, amount in sorted(run.drift.items()):
                family.add_metric([tenant, run.provider, currency], float(amount))
        yield family


def _route_name(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"


class RequestMetrics:
    """Pure ASGI middleware counting requests and timing them per method, route template
    and status (``tallybook_http_requests``, ``tallybook_http_request_seconds``).

    Pure ASGI rather than ``app.middleware("http")`` (``BaseHTTPMiddleware``): no task
    group or body stream per request, and the route is the one the router matched
    (``scope["route"]``, set by FastAPI's routes) instead of matching every route again;
    a request no FastAPI route answered falls back to matching (``_route_name``). A
    request whose handler raised past the error handlers is not counted (as before: the
    server error middleware outside answers it)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        await self.app(scope, receive, capture)
        route = _scope_route(scope)
        method = str(scope.get("method", ""))
        self._metrics.requests.labels(method, route, str(status[0])).inc()
        self._metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _scope_route(scope: Scope) -> str:
    """The matched route's path template (see ``RequestMetrics``)."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "other"))
    return _route_name(Request(scope))

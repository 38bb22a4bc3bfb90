"""Shared set-up of the Stripe sync tests: a Tallybook on a real store wired to the
stand-in (``tests.stripe_standin``), a catalog, and billed months."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.services.sync import Payments
from tallybook.services.sync.calls import RetryPolicy
from tallybook.services.sync.push import SyncOptions
from tests.conftest import TEST_KEY
from tests.stripe_standin import API_KEY, WEBHOOK_SECRET, Running

CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "monthly",
            "name": "Monthly",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "base", "type": "flat", "amount": "20.00", "timing": "in_arrears"},
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "0.25",
                },
            ],
        },
        {
            "key": "yen",
            "name": "Yen",
            "currency": "JPY",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [{"key": "base", "type": "flat", "amount": "1500", "timing": "in_arrears"}],
        },
        {
            "key": "dinar",
            "name": "Dinar",
            "currency": "KWD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [{"key": "base", "type": "flat", "amount": "5.125", "timing": "in_arrears"}],
        },
    ],
}


def stripe_settings(db_url: str, standin: Running, **extra: Any) -> Settings:
    return Settings(
        database_url=db_url,
        api_key=TEST_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
        stripe_api_key=API_KEY,
        stripe_api_base=standin.url,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_timeout_seconds=extra.pop("timeout", 2.0),
        **extra,
    )


@dataclass
class Env:
    container: Container
    client: TestClient
    standin: Running

    @property
    def payments(self) -> Payments:
        assert self.container.payments is not None
        return self.container.payments


@contextmanager
def stripe_env(db_url: str, standin: Running) -> Iterator[Env]:
    """A container and API client wired to ``standin``; fast in-process retries."""
    container = build(stripe_settings(db_url, standin))
    container.tenants.bootstrap_default(TEST_KEY)
    assert container.payments is not None
    container.payments.sync.options = SyncOptions(
        concurrency=4, policy=RetryPolicy(attempts=4, base=0, max_wait=5)
    )
    app = create_app(container=container)
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
            yield Env(container, client, standin)
    finally:
        container.close()


def bill(client: TestClient, customers: dict[str, str], calls: int = 4) -> list[dict[str, Any]]:
    """Customers (id -> plan) subscribed from January, usage in January, January closed
    and finalized; returns the finalized invoices."""
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    currencies = {"monthly": "USD", "yen": "JPY", "dinar": "KWD"}
    for customer, plan in customers.items():
        made = client.post(
            "/v1/customers",
            json={"id": customer, "currency": currencies[plan], "name": f"Customer {customer}"},
        )
        assert made.status_code == 201, made.text
        sub = client.post(
            "/v1/subscriptions",
            json={"customer": customer, "plan": plan, "start": "2026-01-01T00:00:00Z"},
        )
        assert sub.status_code == 201, sub.text
    events = [
        {"id": f"{c}-{n}", "customer": c, "type": "call", "timestamp": "2026-01-10T00:00:00Z"}
        for c, plan in customers.items()
        if plan == "monthly"
        for n in range(calls)
    ]
    if events:
        assert client.post("/v1/events", json=events).json()["accepted"] == len(events)
    run = client.post("/v1/billing-runs", json={"as_of": "2026-02-01T02:00:00Z"})
    assert run.status_code == 200, run.text
    invoices = client.get("/v1/invoices", params={"status": "finalized", "limit": 1000}).json()
    return list(invoices["data"])

"""A real ``tallybook serve`` with Stripe configured, on both stores: its scheduler bills
the month and pushes the invoice by itself; the customer pays in the stand-in; the signed
``invoice.paid`` webhook over real HTTP marks it paid; ``/metrics`` shows the drift gauge
after a reconciliation run."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerFactory
from tests.integration.stripe_helpers import CATALOG
from tests.stripe_standin import API_KEY, WEBHOOK_SECRET, running_standin, signed_event

pytestmark = pytest.mark.e2e


def _wait(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_pushes_by_itself_and_the_webhook_marks_paid(
    server: ServerFactory, db_url: str
) -> None:
    with running_standin() as standin:
        env = {
            "TALLYBOOK_STRIPE_API_KEY": API_KEY,
            "TALLYBOOK_STRIPE_API_BASE": standin.url,
            "TALLYBOOK_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "TALLYBOOK_SCHEDULER_INTERVAL_SECONDS": "0.5",
            "TALLYBOOK_DEFAULT_GRACE_SECONDS": "0",
        }
        base, _, handle = server(db_url, env=env)
        with httpx.Client(base_url=base, headers=handle.headers, timeout=10) as tb:
            assert tb.put("/v1/catalog", json=CATALOG).status_code == 200
            assert (
                tb.post("/v1/customers", json={"id": "acme", "currency": "USD"}).status_code == 201
            )
            start = (datetime.now(UTC) - timedelta(days=70)).replace(
                day=1, hour=0, minute=0, second=0, microsecond=0
            )
            made = tb.post(
                "/v1/subscriptions",
                json={"customer": "acme", "plan": "monthly", "start": start.isoformat()},
            )
            assert made.status_code == 201, made.text
            # the scheduler closes the past months and pushes them, with nobody asking
            invoices = _wait(
                lambda: [
                    i for i in tb.get("/v1/invoices", params={"status": "finalized"}).json()["data"]
                ],
                "finalized invoices",
            )
            first = invoices[0]
            synced = _wait(
                lambda: (
                    tb.get(f"/v1/invoices/{first['id']}").json()["external"]["stripe"]["status"]
                    == "synced"
                ),
                "the scheduler's push",
            )
            assert synced
            remote = standin.state.invoices_for(first["id"])
            assert len(remote) == 1 and remote[0]["total"] == 2000
            paid = standin.state.pay(remote[0]["id"])
            body, headers = signed_event("invoice.paid", paid)
            answer = httpx.post(
                f"{base}/v1/providers/stripe/webhook", content=body, headers=headers
            )
            assert answer.status_code == 200, answer.text
            assert tb.get(f"/v1/invoices/{first['id']}").json()["status"] == "paid"
            now = datetime.now(UTC)
            run = tb.post(
                "/v1/reconciliation-runs",
                json={
                    "provider": "stripe",
                    "from": (now - timedelta(days=1)).isoformat(),
                    "to": (now + timedelta(days=1)).isoformat(),
                },
            )
            assert run.status_code == 201, run.text
            assert run.json()["drift_amount"] == "0"
            metrics = httpx.get(f"{base}/metrics").text
            assert (
                'tallybook_reconciliation_drift{currency="",provider="stripe",tenant="default"} 0.0'
                in metrics
            )

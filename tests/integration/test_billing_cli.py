"""`tallybook billing run --as-of` and `tallybook invoices show` against a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from tallybook.bootstrap import Container
from tallybook.cli import app
from tallybook.services.tenants import DEFAULT_TENANT

CATALOG = {
    "meters": [{"key": "calls", "event_type": "api_batch", "aggregation": "sum", "value": "calls"}],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "200.00", "timing": "in_arrears"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "calls",
                    "included": 50000,
                    "model": "per_unit",
                    "unit_amount": "0.003",
                },
            ],
        }
    ],
}


def test_billing_run_then_show_the_invoice(
    container: Container, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.catalog.apply(DEFAULT_TENANT, CATALOG)
    container.customers.create(DEFAULT_TENANT, "c1", currency="USD")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    container.subscriptions.create(DEFAULT_TENANT, "c1", "growth", start=start)
    events = [
        {"id": f"e{n}", "customer": "c1", "type": "api_batch",
         "timestamp": f"2026-01-{n + 10}T00:00:00Z", "properties": {"calls": calls}}
        for n, calls in enumerate((40000, 50000, 30000))
    ]  # fmt: skip
    assert container.ingest.ingest(DEFAULT_TENANT, events).accepted == 3
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    runner = CliRunner()

    run = runner.invoke(app, ["billing", "run", "--as-of", "2026-02-02T00:00:00Z"])
    assert run.exit_code == 0, run.output
    again = runner.invoke(app, ["billing", "run", "--as-of", "2026-02-02T00:00:00Z"])
    assert again.exit_code == 0, again.output  # idempotent: nothing billed twice

    shown = runner.invoke(app, ["invoices", "show", "INV-000001", "--json"])
    assert shown.exit_code == 0, shown.output
    invoice = json.loads(shown.output)
    assert invoice["customer"] == "c1"
    assert Decimal(invoice["total"]) == Decimal("410.00")
    human = runner.invoke(app, ["invoices", "show", "1"])
    assert human.exit_code == 0 and "410.00" in human.output

    bad = runner.invoke(app, ["billing", "run", "--as-of", "not-a-date"])
    assert bad.exit_code != 0

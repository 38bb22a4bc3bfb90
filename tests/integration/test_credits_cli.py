"""`tallybook credits grant|list|ledger` against a real store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from tallybook.bootstrap import Container
from tallybook.cli import app
from tallybook.services.tenants import DEFAULT_TENANT
from tests.integration.test_billing_cli import CATALOG


def test_grant_list_and_ledger(
    container: Container, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.catalog.apply(DEFAULT_TENANT, CATALOG)
    container.customers.create(DEFAULT_TENANT, "c1", currency="USD")
    container.subscriptions.create(
        DEFAULT_TENANT, "c1", "growth", start=datetime(2026, 1, 1, tzinfo=UTC)
    )
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    runner = CliRunner()
    granted = runner.invoke(
        app,
        ["credits", "grant", "c1", "25.50", "--id", "g1", "--priority", "10",
         "--effective-at", "2026-01-01T00:00:00Z", "--applies-to", "all"],
    )  # fmt: skip
    assert granted.exit_code == 0, granted.output
    assert "granted g1: 25.50 USD" in granted.output
    again = runner.invoke(
        app,
        ["credits", "grant", "c1", "25.50", "--id", "g1", "--priority", "10",
         "--effective-at", "2026-01-01T00:00:00Z", "--applies-to", "all"],
    )  # fmt: skip
    assert again.exit_code == 0 and "already granted" in again.output
    bad = runner.invoke(app, ["credits", "grant", "c1", "0"])
    assert bad.exit_code == 1 and "invalid_amount" in bad.output

    assert runner.invoke(app, ["billing", "run", "--as-of", "2026-02-02T00:00:00Z"]).exit_code == 0
    listed = runner.invoke(app, ["credits", "list", "c1"])
    assert listed.exit_code == 0, listed.output
    assert "g1" in listed.output and "balance 0.00" in listed.output  # 200.00 flat fee drew it all
    ledger = runner.invoke(app, ["credits", "ledger", "c1"])
    assert ledger.exit_code == 0, ledger.output
    assert "grant" in ledger.output and "debit" in ledger.output and "-25.50" in ledger.output
    assert "2 entries, sum 0.00" in ledger.output
    missing = runner.invoke(app, ["credits", "ledger", "nobody"])
    assert missing.exit_code == 1 and "customer_not_found" in missing.output

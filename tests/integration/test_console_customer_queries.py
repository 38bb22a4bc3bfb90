"""The console customer page's reads on SQLite and PostgreSQL (issue 14): its panels
(live usage, upcoming invoice, entitlements, spend limit, alerts, credits) share one
read of the customer and its subscriptions and one rating of the period
(``services.shared_reads``), so the page runs a bounded number of queries (it ran 35
before). Query counts, not times.

Seeded as ``test_console_customer_actions``: ``c1`` on Growth with 90,000 calls, a
spend limit and an alert rule, so every panel has something to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tallybook.bootstrap import Container
from tallybook.services.billing.previews import PreviewService
from tests.integration import test_console_customer_actions as console

clock, app_container, api = console.clock, console.app_container, console.api
browser, ok = console.browser, console.ok
MAX_QUERIES = 20  # was 35 (each panel re-read the customer and subscriptions and rated)
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """The SQL statements run on the container's engine inside the block (transaction
    control left out)."""
    seen: list[str] = []

    def hook(*args: Any) -> None:
        text = str(args[2]).lstrip()
        if not text.upper().startswith(TRANSACTION):
            seen.append(text)

    event.listen(container.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(container.engine, "before_cursor_execute", hook)


def test_the_customer_page_reads_the_customer_once_and_rates_the_period_once(
    api: TestClient,
    browser: TestClient,
    app_container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ok(api.put("/v1/customers/c1/spend-limit", json={"amount": "900.00", "mode": "soft"}))
    rule = {"id": "big-spend", "customer": "c1", "type": "spend_amount", "thresholds": ["100"]}
    ok(api.post("/v1/alerts", json=rule), 201)
    assert browser.get("/console/customers/c1").status_code == 200  # warm: catalog caches
    ratings: list[str] = []
    real = PreviewService._rate

    def counted(self: PreviewService, *args: Any, **kwargs: Any) -> Any:
        ratings.append(args[1].id)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(PreviewService, "_rate", counted)
    with statements(app_container) as seen:
        page = browser.get("/console/customers/c1")
    assert page.status_code == 200
    assert 'id="entitlements"' in page.text and "big-spend" in page.text
    assert "$320.00" in page.text  # the upcoming invoice: 200.00 + 40,000 x 0.003
    assert ratings == ["c1"]  # usage, upcoming invoice, entitlements, spend limit: once
    customer_reads = [s for s in seen if s.startswith("SELECT customers.")]
    subscription_reads = [s for s in seen if "FROM subscriptions" in s]
    assert len(customer_reads) == 1, customer_reads
    assert len(subscription_reads) <= 2, subscription_reads  # the account's; commitments'
    assert len(seen) <= MAX_QUERIES, "\n".join(seen)
    # outside a page, every call reads and rates again (nothing kept across requests)
    ratings.clear()
    app_container.previews.current_usage("default", "c1")
    app_container.previews.current_usage("default", "c1")
    assert ratings == ["c1", "c1"]

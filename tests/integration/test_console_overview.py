"""The console overview's MRR on SQLite and PostgreSQL (issue 14): the figures are a
stored snapshot (``services.mrr_snapshots``) that equals ``AnalyticsService.mrr`` and
``retention``; a page request never computes MRR (the first visit starts a background
computation and says so); the scheduler's job refreshes a snapshot older than a final
invoice, and roles that may start a billing run refresh it on demand.

Seeded as ``test_entitlements_api``: ``c1`` on Growth (200.00 a month in arrears, 50,000
calls included, 0.003 each beyond) with 90,000 calls in January, clock 2026-01-16.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.bootstrap import Container
from tallybook.domain.analytics.months import Month
from tallybook.services.analytics import AnalyticsService
from tests.conftest import TEST_KEY
from tests.integration import test_console_customer_actions as console
from tests.integration.test_console import csrf_of
from tests.integration.test_console_roles import session_of

clock, app_container, api = console.clock, console.app_container, console.api
browser = console.browser
FIGURE = '<span class="figure" id="mrr-figure">{}</span>'


@pytest.fixture
def role_keys(api: TestClient) -> dict[str, str]:
    keys = {"admin": TEST_KEY}
    for role in ("viewer", "billing"):
        answer = api.post("/v1/keys", json={"name": f"only-{role}", "roles": [role]})
        assert answer.status_code == 201, answer.text
        keys[role] = answer.json()["key"]
    return keys


def test_no_page_request_computes_mrr_the_first_visit_starts_it_in_the_background(
    browser: TestClient, app_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = AnalyticsService.mrr

    def counted(self: AnalyticsService, *args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AnalyticsService, "mrr", counted)
    shell = browser.get("/console")
    assert shell.status_code == 200
    assert 'id="mrr-pending"' in shell.text and "being computed" in shell.text
    assert 'hx-get="/console/overview/mrr"' in shell.text  # polls the panel
    assert '<a href="/console/overview/mrr">' in shell.text  # without script: a link
    assert 'id="failed-count"' in shell.text and 'id="overage-panel"' in shell.text
    app_container.mrr_snapshots.wait()
    assert threads == ["mrr-snapshot"]  # computed once, in the background thread
    again = browser.get("/console")
    assert FIGURE.format("$200.00") in again.text
    assert "MRR as of 2026-01-16 00:00 UTC" in again.text
    assert 'id="mrr-pending"' not in again.text
    panel = browser.get("/console/overview/mrr")
    assert panel.status_code == 200 and 'id="movements-chart"' in panel.text
    assert FIGURE.format("$200.00") in panel.text
    csv = browser.get("/console/mrr.csv")
    assert csv.status_code == 200
    assert "2026-01,USD,200.00,200.00,0,1,200.00,0,0,0,0" in csv.text.replace("\r", "")
    assert threads == ["mrr-snapshot"]  # pages and CSV read the snapshot
    assert browser.get("/console/overview/mrr", params={"x": "1"}).status_code == 400
    with TestClient(browser.app) as anonymous:
        out = anonymous.get("/console/overview/mrr", follow_redirects=False)
        assert out.headers["location"] == "/console/login"


def test_the_snapshot_equals_the_analytics_answers(
    browser: TestClient, app_container: Container
) -> None:
    snapshots, analytics = app_container.mrr_snapshots, app_container.analytics
    assert snapshots.get("default") is None
    snapshots.refresh("default")
    kept = snapshots.get("default")
    assert kept is not None
    first, last = Month(2025, 2), Month(2026, 1)
    assert (kept.first, kept.last, kept.currency) == (first, last, "USD")
    assert kept.rows == analytics.mrr("default", first, last)
    assert kept.retention == analytics.retention("default", first, last, "USD").retention
    assert kept.computed_at == datetime(2026, 1, 16, tzinfo=UTC)
    assert [r.totals.mrr for r in kept.rows if r.month == last] == [200]


def test_a_new_invoice_makes_the_snapshot_stale_and_the_scheduler_refreshes_it(
    browser: TestClient, app_container: Container, clock: FixedClock
) -> None:
    snapshots = app_container.mrr_snapshots
    assert snapshots.refresh_due() == ["default"]  # no snapshot yet
    assert snapshots.refresh_due() == []  # fresh, no invoice since
    clock.set(datetime(2026, 2, 1, 1, 0, 1, tzinfo=UTC))  # January's grace is over
    snapshots.refresh("default")
    before = snapshots.get("default")
    assert before is not None
    january = next(r for r in before.rows if r.month == Month(2026, 1))
    assert january.totals.mrr == 200  # usage not invoiced yet
    clock.set(datetime(2026, 2, 1, 1, 5, tzinfo=UTC))
    assert app_container.billing.run_due()  # finalizes January: 40,000 calls over
    assert snapshots.refresh_due() == ["default"]  # the invoice is newer than the snapshot
    after = snapshots.get("default")
    assert after is not None and after.computed_at == clock.now()
    january = next(r for r in after.rows if r.month == Month(2026, 1))
    assert january.totals.usage == 120 and january.totals.mrr == 320  # 40,000 x 0.003
    assert after.rows == app_container.analytics.mrr("default", after.first, after.last)
    assert snapshots.refresh_due() == []


def test_roles_that_may_bill_refresh_the_snapshot_on_demand(
    browser: TestClient,
    app_container: Container,
    clock: FixedClock,
    role_keys: dict[str, str],
) -> None:
    snapshots = app_container.mrr_snapshots
    snapshots.refresh("default")
    with session_of(browser, role_keys["viewer"]) as viewer:
        page = viewer.get("/console").text
        assert "MRR as of 2026-01-16 00:00 UTC" in page and "Refresh MRR" not in page
        refused = viewer.post("/console/overview/mrr/refresh", data={"csrf": csrf_of(page)})
        assert refused.status_code == 403
    clock.set(datetime(2026, 1, 16, 9, 30, tzinfo=UTC))
    with session_of(browser, role_keys["billing"]) as billing:
        page = billing.get("/console").text
        assert "Refresh MRR" in page
        assert billing.post("/console/overview/mrr/refresh", data={}).status_code == 403  # CSRF
        answer = billing.post(
            "/console/overview/mrr/refresh", data={"csrf": csrf_of(page)}, follow_redirects=False
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/console")
        snapshots.wait()
        assert "MRR as of 2026-01-16 09:30 UTC" in billing.get("/console").text

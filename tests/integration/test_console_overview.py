"""The console overview on SQLite and PostgreSQL: the page renders without computing MRR
(the MRR panel is its own endpoint, loaded by htmx, a link without script), the panel
endpoint computes and keeps the figures, and the overview then shows them inline.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tallybook.services.analytics import AnalyticsService
from tests.integration import test_console_customer_actions as console

clock, app_container, api = console.clock, console.app_container, console.api
browser = console.browser


def test_overview_loads_the_mrr_panel_from_its_own_endpoint(
    browser: TestClient, app_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = AnalyticsService.mrr

    def counted(self: AnalyticsService, *args: object, **kwargs: object) -> object:
        calls.append("mrr")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AnalyticsService, "mrr", counted)
    shell = browser.get("/console")
    assert shell.status_code == 200
    assert calls == []  # the shell computes no MRR
    assert 'hx-get="/console/overview/mrr"' in shell.text
    assert '<a href="/console/overview/mrr">' in shell.text  # without script: a link
    assert 'id="mrr-figure"' not in shell.text
    assert 'id="failed-count"' in shell.text and 'id="overage-panel"' in shell.text
    panel = browser.get("/console/overview/mrr")
    assert panel.status_code == 200 and calls == ["mrr"]
    assert 'id="mrr-panel"' in panel.text and 'id="movements-chart"' in panel.text
    assert '<span class="figure" id="mrr-figure">$200.00</span>' in panel.text
    again = browser.get("/console")  # kept for a minute: shown inline, not recomputed
    assert calls == ["mrr"]
    assert '<span class="figure" id="mrr-figure">$200.00</span>' in again.text
    assert 'hx-get="/console/overview/mrr"' not in again.text
    assert browser.get("/console/overview/mrr", params={"x": "1"}).status_code == 400
    with TestClient(browser.app) as anonymous:
        out = anonymous.get("/console/overview/mrr", follow_redirects=False)
        assert out.headers["location"] == "/console/login"

"""The overview's overage panel on SQLite and PostgreSQL (issue 14): customers over an
allowance now come from the marks the alert evaluator keeps (fired 100 % default
allowance alerts), paged by id in SQL, and are the same customers as rating every
customer's live usage (the panel's previous way) on a generated tenant; with the
default allowance alerts off the panel rates a batch a page.

Catalog: ``test_previews``' Growth plan (50,000 api calls included a month); 45
customers with seeded random January usage around the allowance, clock 2026-01-16.
"""

from __future__ import annotations

import random
import re

from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tests.integration import test_console_customer_actions as console
from tests.integration import test_entitlements_api as seeded
from tests.integration.test_previews import send_calls

clock, app_container, api = console.clock, console.app_container, console.api
browser = console.browser
ok = seeded.ok
CUSTOMERS = 45


def generated(api: TestClient, app_container: Container) -> None:
    """``c1`` (seeded, 90,000 calls) and ``g00``..``g44`` with random usage: a third of
    them without events, the rest 1-3 events of 5,000-40,000 calls; every mark the
    evaluator would write is written (``drain``)."""
    rng = random.Random(14)
    for n in range(CUSTOMERS):
        customer = f"g{n:02d}"
        ok(api.post("/v1/customers", json={"id": customer, "currency": "USD"}), 201)
        plan = {"customer": customer, "plan": "growth", "start": "2026-01-01T00:00:00Z"}
        ok(api.post("/v1/subscriptions", json=plan), 201)
        if n % 3 == 0:
            continue
        calls = [
            (f"2026-01-{day:02d}T10:00:00Z", rng.randrange(5000, 40001))
            for day in rng.sample(range(2, 15), rng.randrange(1, 4))
        ]
        send_calls(api, customer, *calls)
    app_container.alert_evaluator.drain()


def rated(app_container: Container) -> list[str]:
    """Every customer rated, as the panel did before (one live preview each)."""
    found, after = [], None
    while True:
        page = app_container.overage.rated("default", limit=7, after=after)
        found += [c.id for c in page.customers]
        if page.next_after is None:
            return found
        after = page.next_after


def test_customers_from_the_marks_are_those_rating_finds(
    api: TestClient, browser: TestClient, app_container: Container
) -> None:
    generated(api, app_container)
    expected = rated(app_container)
    assert 10 <= len(expected) <= CUSTOMERS - 10  # the generated usage straddles 50,000
    assert "c1" in expected
    pages, after = [], None
    while True:
        page = app_container.overage.page("default", limit=7, after=after)
        assert page.from_marks and len(page.customers) <= 7
        pages.append([c.id for c in page.customers])
        if page.next_after is None:
            break
        after = page.next_after
    assert [c for p in pages for c in p] == expected  # same customers, by id, paged
    assert all(len(p) == 7 for p in pages[:-1])
    panel = browser.get("/console/overview/overage")
    assert panel.status_code == 200
    listed = re.findall(r'<a href="/console/customers/([^"]+)">', panel.text)
    assert listed == expected[:20]
    assert "180% of allowance" in panel.text  # c1: 90,000 of 50,000
    more = re.search(r'<a href="(/console/overview/overage\?after=[^"]+)"', panel.text)
    if len(expected) > 20:
        assert more is not None
        rest = browser.get(more.group(1).replace("&amp;", "&")).text
        assert re.findall(r'<a href="/console/customers/([^"]+)">', rest) == expected[20:40]
    else:
        assert more is None


def test_more_usage_marks_a_customer_and_the_panel_rates_without_default_alerts(
    api: TestClient, browser: TestClient, app_container: Container
) -> None:
    ok(api.post("/v1/customers", json={"id": "c2", "currency": "USD"}), 201)
    plan = {"customer": "c2", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    ok(api.post("/v1/subscriptions", json=plan), 201)
    send_calls(api, "c2", ("2026-01-05T10:00:00Z", 30000))
    app_container.alert_evaluator.drain()
    page = app_container.overage.page("default", limit=20, after=None)
    assert [c.id for c in page.customers] == ["c1"]
    more = {"id": "c2-more", "customer": "c2", "type": "api_batch"}
    more |= {"timestamp": "2026-01-06T10:00:00Z", "properties": {"calls": 20000}}
    assert ok(api.post("/v1/events", json=[more]))["accepted"] == 1  # c2 reaches 50,000
    app_container.alert_evaluator.drain()
    page = app_container.overage.page("default", limit=20, after=None)
    assert [c.id for c in page.customers] == ["c1", "c2"]
    assert [(m.charge, m.used, m.included) for m in page.customers[1].charges] == [
        ("api", 50000, 50000)
    ]
    ok(api.put("/v1/alert-settings", json={"default_allowance_alerts": False}))
    off = app_container.overage.page("default", limit=20, after=None)
    assert not off.from_marks and off.checked == 2
    assert [c.id for c in off.customers] == ["c1", "c2"]
    panel = browser.get("/console/overview/overage").text
    assert "Checked 2 customers" in panel and "rated" in panel
    assert browser.get("/console/overview/overage", params={"y": "1"}).status_code == 400

"""Quantities shown to people are rounded; APIs keep exact values (issue 17, item 11).

Reproduction: the demo's storage gauge (``time_weighted_average`` of GB) showed
``28.13869625520110957004160888`` GB on the portal, and the chart's "so far" summed the
daily averages of the gauge ("844.3216499999999999999999997 so far"). Clock at
2026-01-16T00:00Z, a calendar-month plan; gauge readings 10 GB from Jan 1, 33.3 GB from
Jan 3 07:13, 41.7 GB from Jan 9 05:01, and 40,000 + 50,000 API calls (a sum meter).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.domain.money import round_quantity_for_display
from tallybook.formatting import format_quantity
from tests.conftest import TEST_KEY
from tests.integration import test_previews as shared
from tests.integration.test_previews import HYBRID, ok

clock, app_container, api = shared.clock, shared.app_container, shared.api

CATALOG: dict[str, Any] = {
    "meters": [
        *HYBRID["meters"],
        {
            "key": "storage_gb",
            "event_type": "storage_snapshot",
            "aggregation": "time_weighted_average",
            "value": "gb",
            "name": "Storage GB",
        },
    ],
    "plans": [
        {
            **HYBRID["plans"][0],
            "charges": [
                *HYBRID["plans"][0]["charges"],
                {
                    "key": "storage",
                    "type": "usage",
                    "meter": "storage_gb",
                    "included": 10,
                    "model": "per_unit",
                    "unit_amount": "0.25",
                    "name": "Storage",
                },
            ],
        }
    ],
}
READINGS = (
    ("2026-01-01T00:00:00Z", "10"),
    ("2026-01-03T07:13:00Z", "33.3"),
    ("2026-01-09T05:01:00Z", "41.7"),
)


@pytest.fixture
def seeded(api: TestClient) -> TestClient:
    ok(api.put("/v1/catalog", json=CATALOG))
    ok(api.post("/v1/customers", json={"id": "c1", "currency": "USD", "name": "Acme"}), 201)
    sub = {"customer": "c1", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    ok(api.post("/v1/subscriptions", json=sub), 201)
    events = [
        {
            "id": f"s{i}",
            "customer": "c1",
            "type": "storage_snapshot",
            "timestamp": ts,
            "properties": {"gb": gb},
        }
        for i, (ts, gb) in enumerate(READINGS)
    ]
    events += [
        {
            "id": "a1",
            "customer": "c1",
            "type": "api_batch",
            "timestamp": "2026-01-03T10:00:00Z",
            "properties": {"calls": 40000},
        },
        {
            "id": "a2",
            "customer": "c1",
            "type": "api_batch",
            "timestamp": "2026-01-14T10:00:00Z",
            "properties": {"calls": 50000},
        },
    ]
    assert ok(api.post("/v1/events", json=events))["accepted"] == len(events)
    return api


def storage_used(api: TestClient) -> Decimal:
    usage = ok(api.get("/v1/customers/c1/usage"))
    return Decimal(next(c for c in usage["charges"] if c["charge"] == "storage")["used"])


def test_the_api_keeps_the_exact_value(seeded: TestClient) -> None:
    used = storage_used(seeded)
    assert len(str(used)) > 12  # a long division result, exactly as billed
    upcoming = ok(seeded.get("/v1/customers/c1/upcoming-invoice"))
    line = next(x for x in upcoming["lines"] if x["charge"] == "storage")
    assert Decimal(line["used"]) == used


def test_pages_show_rounded_quantities_and_the_gauge_period_value(seeded: TestClient) -> None:
    with TestClient(seeded.app) as browser:
        browser.post("/portal/login", data={"api_key": TEST_KEY})
        html = browser.get("/portal/customers/c1").text
        dashboard = browser.get("/portal").text
        upcoming = browser.get("/portal/customers/c1/upcoming").text
    for page in (html, dashboard, upcoming):
        assert not re.search(r"\d\.\d{5,}", page), re.search(r".{40}\d\.\d{5,}.{20}", page)
    so_far = dict(
        re.findall(r"<h2>([^<]+) per day <span class=\"muted small\">([^<]+) so far", html)
    )
    assert so_far["api_calls"] == "90,000"  # a sum meter: the days add up
    gauge = seeded.get(
        "/v1/meters/storage_gb/usage",
        params={"customer": "c1", "from": "2026-01-01T00:00:00Z", "to": "2026-01-16T00:00:00Z"},
    )
    period_value = Decimal(ok(gauge)["data"][0]["value"])
    assert so_far["Storage GB"] == format_quantity(period_value)
    assert Decimal(so_far["Storage GB"]) < 42  # an average of readings up to 41.7, not a sum
    used = storage_used(seeded)
    assert f"{format_quantity(used)} / 10" in html


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("28.13869625520110957004160888", "28.1387"),
        ("844.3216499999999999999999997", "844.3216"),
        ("90000", "90000"),
        ("1E+5", "100000"),
        ("2.50", "2.5"),
        ("0.0000123456", "0.0000123"),
        ("-3.14159", "-3.1416"),
        ("0", "0"),
    ],
)
def test_display_rounding_rule(exact: str, shown: str) -> None:
    assert f"{round_quantity_for_display(Decimal(exact)):f}" == shown

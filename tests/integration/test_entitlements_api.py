"""Entitlements through the HTTP API on SQLite and PostgreSQL (issue 10, CONTRACT.md Part 2).

The Growth plan (test_previews' hybrid plan) gains features: ``sso`` (boolean), ``support``
(static, with a config), ``calls`` (metered on api_calls, hard limit 100,000 per period)
and ``exports`` (metered on api_calls, soft limit 1,000). ``audit_log`` is defined only by
the Enterprise plan. Clock: 2026-01-16T00:00Z; 90,000 calls so far this period, so hard
``calls`` answers ``usage + units <= 100000`` (10,000 more units fit, 10,001 do not).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from tallybook.adapters.store.schema_events import events
from tallybook.bootstrap import Container
from tests.integration import test_previews as shared

clock, app_container, api = shared.clock, shared.app_container, shared.api
ok, send_calls = shared.ok, shared.send_calls

SHAPE = {
    "feature",
    "has_access",
    "usage",
    "limit",
    "remaining",
    "overage",
    "config",
    "reason",
    "reset_at",
    "as_of",
}


def catalog() -> dict[str, Any]:
    document = copy.deepcopy(shared.HYBRID)
    document["plans"][0]["features"] = [
        {"key": "sso", "type": "boolean"},
        {"key": "support", "type": "static", "config": {"tier": "priority", "hours": 24}},
        {"key": "calls", "type": "metered", "meter": "api_calls", "limit": 100000, "hard": True},
        {"key": "exports", "type": "metered", "meter": "api_calls", "limit": "1000", "hard": False},
    ]
    document["plans"].append(
        {
            "key": "enterprise",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "features": [{"key": "audit_log", "type": "boolean"}],
        }
    )
    return document


def setup(api: TestClient) -> None:
    ok(api.put("/v1/catalog", json=catalog()))
    ok(api.post("/v1/customers", json={"id": "c1", "currency": "USD"}), 201)
    start = "2026-01-01T00:00:00Z"
    ok(
        api.post("/v1/subscriptions", json={"customer": "c1", "plan": "growth", "start": start}),
        201,
    )
    send_calls(api, "c1", ("2026-01-03T10:00:00Z", 40000), ("2026-01-14T10:00:00Z", 50000))


def check(api: TestClient, feature: str, units: str | None = None, customer: str = "c1") -> Any:
    query = "" if units is None else f"?units={units}"
    return ok(api.get(f"/v1/customers/{customer}/entitlements/{feature}{query}"))


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_boolean_and_static_features_answer_the_contract_shape(api: TestClient) -> None:
    setup(api)
    sso = check(api, "sso")
    assert set(sso) == SHAPE
    assert sso == {
        "feature": "sso",
        "has_access": True,
        "usage": None,
        "limit": None,
        "remaining": None,
        "overage": None,
        "config": None,
        "reason": None,
        "reset_at": None,
        "as_of": "2026-01-16T00:00:00Z",
    }
    support = check(api, "support")
    assert support["has_access"] is True and support["config"] == {"tier": "priority", "hours": 24}


def test_hard_metered_limit_grants_access_iff_usage_plus_units_fits(api: TestClient) -> None:
    setup(api)
    fits = check(api, "calls", "10000")
    assert set(fits) == SHAPE
    assert (fits["has_access"], fits["reason"]) == (True, None)
    assert (fits["usage"], fits["limit"], fits["remaining"], fits["overage"]) == (
        "90000",
        "100000",
        "10000",
        "0",
    )
    assert fits["reset_at"] == "2026-02-01T00:00:00Z"
    one_more = check(api, "calls", "10001")
    assert (one_more["has_access"], one_more["reason"]) == (False, "limit_reached")
    assert check(api, "calls")["has_access"] is True  # default units=1
    assert check(api, "calls", "0")["has_access"] is True
    send_calls(api, "c2", ("2026-01-15T00:00:00Z", 10000))  # another customer: not counted
    assert check(api, "calls", "10000")["has_access"] is True
    shared.send_calls(api, "c1x", ("2026-01-15T00:00:00Z", 1))  # ids differ from setup's
    api.post(
        "/v1/events",
        json=[
            {
                "id": "more",
                "customer": "c1",
                "type": "api_batch",
                "timestamp": "2026-01-15T12:00:00Z",
                "properties": {"calls": 10000},
            }
        ],
    )
    at_limit = check(api, "calls")
    assert (at_limit["usage"], at_limit["remaining"]) == ("100000", "0")
    assert (at_limit["has_access"], at_limit["reason"]) == (False, "limit_reached")
    assert check(api, "calls", "0")["has_access"] is True  # usage + 0 <= limit


def test_soft_metered_limit_keeps_access_and_reports_overage(api: TestClient) -> None:
    setup(api)
    exports = check(api, "exports")
    assert exports["has_access"] is True and exports["reason"] == "limit_reached"
    assert (exports["usage"], exports["limit"], exports["remaining"], exports["overage"]) == (
        "90000",
        "1000",
        "0",
        "89000",
    )


def test_reasons_not_in_plan_no_subscription_and_404s(api: TestClient) -> None:
    setup(api)
    audit = check(api, "audit_log")
    assert (audit["has_access"], audit["reason"]) == (False, "not_in_plan")
    ok(api.post("/v1/customers", json={"id": "bare", "currency": "USD"}), 201)
    bare = check(api, "sso", customer="bare")
    assert (bare["has_access"], bare["reason"]) == (False, "no_subscription")
    assert set(bare) == SHAPE
    assert error(api.get("/v1/customers/c1/entitlements/teleport")) == (404, "feature_not_found")
    assert error(api.get("/v1/customers/nobody/entitlements/sso")) == (404, "customer_not_found")
    assert ok(api.get("/v1/customers/bare/entitlements")) == {"data": []}


@pytest.mark.parametrize(
    ("units", "status", "code"),
    [
        ("-1", 422, "invalid_units"),
        ("-0.5", 422, "invalid_units"),
        ("abc", 422, "invalid_number"),
        ("NaN", 422, "invalid_number"),
        ("1e16", 422, "invalid_units"),
        ("1e20", 422, "invalid_number"),
        ("", 422, "invalid_request"),
    ],
)
def test_bad_units_are_coded_4xx(api: TestClient, units: str, status: int, code: str) -> None:
    setup(api)
    response = api.get(f"/v1/customers/c1/entitlements/calls?units={units}")
    assert error(response) == (status, code)


def test_unknown_query_parameters_are_refused(api: TestClient) -> None:
    setup(api)
    assert error(api.get("/v1/customers/c1/entitlements/calls?unit=2")) == (
        400,
        "unknown_parameter",
    )


def test_the_list_has_every_plan_feature_for_one_unit(api: TestClient) -> None:
    setup(api)
    listed = ok(api.get("/v1/customers/c1/entitlements"))["data"]
    assert [e["feature"] for e in listed] == ["calls", "exports", "sso", "support"]
    assert all(set(e) == SHAPE for e in listed)
    assert listed[0]["has_access"] is True and listed[0]["usage"] == "90000"


def test_overrides_per_customer(api: TestClient) -> None:
    setup(api)
    path = "/v1/customers/c1/entitlements"
    raised = ok(api.put(f"{path}/calls", json={"limit": "200000"}))
    assert raised["limit"] == "200000" and raised["enabled"] is None
    assert check(api, "calls", "110000")["has_access"] is True
    assert check(api, "calls", "110001")["reason"] == "limit_reached"
    ok(api.put(f"{path}/calls", json={"hard": False}))  # replaces: the plan's limit again
    soft = check(api, "calls", "20000")
    assert (soft["has_access"], soft["limit"], soft["reason"]) == (True, "100000", "limit_reached")
    ok(api.put(f"{path}/sso", json={"enabled": False}))
    assert check(api, "sso")["reason"] == "not_in_plan"
    ok(api.put(f"{path}/audit_log", json={"enabled": True}))
    assert check(api, "audit_log")["has_access"] is True
    features = [e["feature"] for e in ok(api.get(path))["data"]]
    assert features == ["audit_log", "calls", "exports", "sso", "support"]
    assert api.delete(f"{path}/sso").status_code == 204
    assert check(api, "sso")["has_access"] is True
    assert error(api.delete(f"{path}/sso")) == (404, "override_not_found")
    # another customer is untouched by c1's overrides
    ok(api.post("/v1/customers", json={"id": "c2", "currency": "USD"}), 201)
    start = "2026-01-01T00:00:00Z"
    ok(
        api.post("/v1/subscriptions", json={"customer": "c2", "plan": "growth", "start": start}),
        201,
    )
    assert check(api, "audit_log", customer="c2")["reason"] == "not_in_plan"


@pytest.mark.parametrize(
    ("feature", "body", "status", "code"),
    [
        ("sso", {"limit": "5"}, 422, "invalid_override"),
        ("support", {"hard": True}, 422, "invalid_override"),
        ("calls", {"limit": "-1"}, 422, "invalid_limit"),
        ("calls", {"limit": "lots"}, 422, "invalid_number"),
        ("calls", {"enabled": "maybe"}, 422, "invalid_request"),
        ("calls", {"colour": "red"}, 422, "invalid_request"),
        ("teleport", {"enabled": True}, 404, "feature_not_found"),
    ],
)
def test_bad_overrides_are_coded_4xx(
    api: TestClient, feature: str, body: dict[str, Any], status: int, code: str
) -> None:
    setup(api)
    response = api.put(f"/v1/customers/c1/entitlements/{feature}", json=body)
    assert error(response) == (status, code)
    assert check(api, "calls", "10000")["limit"] == "100000"


def test_catalog_checks_features(api: TestClient) -> None:
    document = catalog()
    document["plans"][0]["features"] += [
        {"key": "sso", "type": "boolean"},
        {"key": "rockets", "type": "metered", "meter": "nope", "limit": 5},
        {"key": "x", "type": "telepathy"},
        {"key": "y", "type": "metered", "meter": "api_calls", "limit": -3},
    ]
    response = api.put("/v1/catalog", json=document)
    assert response.status_code == 422, response.text
    issues = {i["location"]: i["message"] for i in response.json()["error"]["details"]["issues"]}
    assert (
        "plans[0].features[6].type" in issues and "telepathy" in issues["plans[0].features[6].type"]
    )
    assert "plans[0].features[7].limit" in issues


def test_catalog_cross_checks_features(api: TestClient) -> None:
    document = catalog()
    document["plans"][0]["features"] += [
        {"key": "sso", "type": "boolean"},
        {"key": "rockets", "type": "metered", "meter": "nope", "limit": 5},
    ]
    response = api.put("/v1/catalog", json=document)
    assert response.status_code == 422, response.text
    issues = {i["location"]: i["message"] for i in response.json()["error"]["details"]["issues"]}
    assert "duplicate feature key 'sso'" in issues["plans[0].features[4].key"]
    assert "unknown meter 'nope'" in issues["plans[0].features[5].meter"]


def test_features_round_trip_and_a_change_publishes_a_new_version(api: TestClient) -> None:
    setup(api)
    plan = ok(api.get("/v1/plans/growth"))
    assert plan["features"][2] == {
        "key": "calls",
        "type": "metered",
        "meter": "api_calls",
        "limit": "100000",
        "hard": True,
    }
    document = catalog()
    document["plans"][0]["features"][2]["limit"] = 95000
    diff = ok(api.put("/v1/catalog", json=document))
    growth = next(p for p in diff["plans"] if p["key"] == "growth")
    assert growth["action"] == "updated" and growth["version"] == 2
    assert ok(api.put("/v1/catalog", json=document))["changed"] is False


def test_metered_checks_read_the_hourly_rollups_not_the_raw_events(
    api: TestClient, app_container: Container
) -> None:
    setup(api)
    assert check(api, "calls")["usage"] == "90000"  # the first read backfills the rollups
    with app_container.engine.begin() as conn:  # raw rows gone: only the rollups still count
        conn.execute(delete(events))
    assert check(api, "calls")["usage"] == "90000"

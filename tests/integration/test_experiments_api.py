"""Experiments through the HTTP API on SQLite and PostgreSQL: the contract's sticky hash,
stable across restarts (a new app on the same store) and ramps, stop, results with
p-values checked against a hand computation (docs/analytics.md "Experiments")."""

from __future__ import annotations

import hashlib
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi.testclient import TestClient
from scipy import stats

from tallybook.api.app import create_app
from tallybook.bootstrap import build
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.integration.test_analytics_api import error


def _plan(key: str, amount: str) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "currency": "USD",
        "interval": "month",
        "billing_anchor": "calendar",
        "trial_days": 14,
        "charges": [{"key": "base", "type": "flat", "amount": amount, "timing": "in_arrears"}],
    }


P = Decimal("0.0001")
CATALOG = {"meters": [], "plans": [_plan("basic", "10.00"), _plan("plus", "12.00")]}


def expected_arm(key: str, customer: str, share: str) -> str:
    bucket = int(hashlib.sha256(f"{key}:{customer}".encode()).hexdigest()[:8], 16) % 10000
    return "plus" if bucket < Decimal(share) * 10000 else "basic"


def _join(client: TestClient, customer: str, start: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    if client.get(f"/v1/customers/{customer}").status_code == 404:
        client.post("/v1/customers", json={"id": customer, "currency": "USD"})
    response = client.post(
        "/v1/subscriptions",
        json={"customer": customer, "plan": "experiment:price", "start": start},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _plan_of(body: dict[str, Any]) -> str:
    return str(body["plan"] if isinstance(body["plan"], str) else body["plan"]["key"])


def test_assignment_sticky_across_restarts_and_ramps(
    client: TestClient, settings: Settings
) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    created = client.post(
        "/v1/experiments",
        json={
            "key": "price",
            "control_plan": "basic",
            "treatment_plan": "plus",
            "share": "0.5",
            "start": "2025-01-01T00:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    first = {f"c{n:02d}": _plan_of(_join(client, f"c{n:02d}")) for n in range(20)}
    assert first == {c: expected_arm("price", c, "0.5") for c in first}
    assert set(first.values()) == {"basic", "plus"}

    # a new process on the same store: same answers for new customers, stored ones kept
    again = build(settings)
    try:
        with TestClient(
            create_app(container=again), headers={"Authorization": f"Bearer {TEST_KEY}"}
        ) as restarted:
            ramp = restarted.patch("/v1/experiments/price", json={"share": "0.8"})
            assert ramp.status_code == 200 and ramp.json()["share"] == "0.8"
            for customer, plan in first.items():
                sub = restarted.get("/v1/subscriptions", params={"customer": customer}).json()
                sid = sub["data"][0]["id"]
                canceled = restarted.post(
                    f"/v1/subscriptions/{sid}/cancel",
                    json={"at": "2025-01-02T00:00:00Z", "mode": "immediately"},
                )
                assert canceled.status_code == 200, canceled.text
                rejoined = _join(restarted, customer, "2025-03-01T00:00:00Z")
                assert _plan_of(rejoined) == plan  # assigned once, for ever
            later = {f"n{n:02d}": _plan_of(_join(restarted, f"n{n:02d}")) for n in range(20)}
            assert later == {c: expected_arm("price", c, "0.8") for c in later}
            assert error(restarted.patch("/v1/experiments/price", json={"share": "0.3"})) == (
                422,
                "share_lowered",
            )
    finally:
        again.close()

    stopped = client.post("/v1/experiments/price/stop")
    assert stopped.json()["status"] == "stopped"
    assert _plan_of(_join(client, "after-stop")) == "basic"  # control, not assigned
    assert error(client.patch("/v1/experiments/price", json={"share": "0.9"})) == (
        409,
        "experiment_stopped",
    )
    results = client.get("/v1/experiments/price/results").json()
    assert results["control"]["customers"] + results["treatment"]["customers"] == 40


def test_results_with_p_values(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    client.post(
        "/v1/experiments",
        json={
            "key": "price",
            "control_plan": "basic",
            "treatment_plan": "plus",
            "share": "0.5",
            "start": "2025-01-01T00:00:00Z",
        },
    )
    arms: dict[str, list[str]] = {"basic": [], "plus": []}
    for n in range(30):
        customer = f"r{n:02d}"
        body = _join(client, customer)
        arms[_plan_of(body)].append(customer)
        if n % 4 == 0:  # canceled during the trial: never converted, churned
            client.post(
                f"/v1/subscriptions/{body['id']}/cancel",
                json={"at": "2025-01-05T00:00:00Z", "mode": "immediately"},
            )
    churned = {arm: [c for c in members if int(c[1:]) % 4 == 0] for arm, members in arms.items()}
    results = client.get("/v1/experiments/price/results").json()
    for arm, plan, fee in (("control", "basic", 10), ("treatment", "plus", 12)):
        row = results[arm]
        n, lost = len(arms[plan]), len(churned[plan])
        assert (row["customers"], row["converted"], row["churned"]) == (n, n - lost, lost)
        assert row["mrr"] == f"{fee * (n - lost)}.00"
        assert row["arpa"] == f"{fee}.00"
    # two-proportion z-test by hand (pooled), p = erfc(|z| / sqrt 2)
    n1, n2 = len(arms["plus"]), len(arms["basic"])
    x1, x2 = n1 - len(churned["plus"]), n2 - len(churned["basic"])
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    conversion = Decimal(repr(math.erfc(abs(z) / math.sqrt(2)))).quantize(P, ROUND_HALF_UP)
    assert results["p_values"]["conversion"] == f"{conversion:f}"
    # Welch's t by hand, p from the t distribution
    a = [12.0 if int(c[1:]) % 4 else 0.0 for c in arms["plus"]]
    b = [10.0 if int(c[1:]) % 4 else 0.0 for c in arms["basic"]]
    va, vb = stats.tvar(a) / len(a), stats.tvar(b) / len(b)
    t = (sum(a) / len(a) - sum(b) / len(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    welch = Decimal(repr(float(2 * stats.t.sf(abs(t), df)))).quantize(P, ROUND_HALF_UP)
    assert results["p_values"]["mrr"] == f"{welch:f}"
    table = client.get("/v1/experiments/price/results.csv").text.splitlines()
    assert table[0].startswith("arm,plan,customers") and len(table) == 3


def test_idempotent_create_and_bad_input(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    body = {
        "key": "exp",
        "control_plan": "basic",
        "treatment_plan": "plus",
        "share": "0.25",
        "start": "2025-01-01T00:00:00Z",
    }
    one = client.post("/v1/experiments", json=body)
    two = client.post("/v1/experiments", json=body)
    assert one.status_code == two.status_code == 201 and one.json() == two.json()
    assert error(client.post("/v1/experiments", json={**body, "share": "0.3"})) == (409, "conflict")
    url = "/v1/experiments"
    assert error(client.post(url, json={**body, "key": "b", "share": "1.5"})) == (
        422,
        "invalid_share",
    )
    assert error(client.post(url, json={**body, "key": "b", "share": "-0.1"})) == (
        422,
        "invalid_share",
    )
    assert error(client.post(url, json={**body, "key": "b", "control_plan": "zz"})) == (
        404,
        "plan_not_found",
    )
    assert error(client.post(url, json={**body, "key": "b", "end": "2024-01-01T00:00:00Z"})) == (
        422,
        "invalid_window",
    )
    assert error(client.patch("/v1/experiments/exp", json={"share": "2"})) == (422, "invalid_share")
    assert error(client.get("/v1/experiments/none/results")) == (404, "experiment_not_found")
    client.post("/v1/customers", json={"id": "x", "currency": "USD"})
    joined = client.post("/v1/subscriptions", json={"customer": "x", "plan": "experiment:none"})
    assert error(joined) == (404, "experiment_not_found")
    page = client.get("/v1/experiments", params={"limit": 1}).json()
    assert [e["key"] for e in page["data"]] == ["exp"] and page["has_more"] is True
    rest = client.get("/v1/experiments", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert rest["data"] == [] and rest["has_more"] is False

"""Allowance rollover through the API on both stores: a bad rollover is a located 422;
a plan with one is stored and read back with it."""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient

from tests.unit.test_rollover import ROLLOVER_PLAN


def test_a_bad_rollover_is_refused_with_its_location(client: TestClient) -> None:
    document = copy.deepcopy(ROLLOVER_PLAN)
    document["plans"][0]["charges"][0]["rollover"] = {"max": "-1", "carry": 2}  # type: ignore[index]
    response = client.put("/v1/catalog", json=document)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_catalog"
    assert sorted(i["location"] for i in error["details"]["issues"]) == [
        "plans[0].charges[0].rollover.carry",
        "plans[0].charges[0].rollover.max",
    ]


def test_a_plan_keeps_its_rollover(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=ROLLOVER_PLAN).status_code == 200
    plan = client.get("/v1/plans/p").json()
    assert plan["charges"][0]["rollover"] == {"max": "5000"}

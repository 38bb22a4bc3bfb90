"""``PUT /v1/catalog``, ``/v1/plans``: JSON and YAML, diffs, versions, coded errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tallybook.bootstrap import Container

YAML = """\
meters:
  - key: api_calls
    event_type: api_call
    aggregation: count
plans:
  - key: growth
    name: Growth
    currency: USD
    interval: month
    charges:
      - {key: platform, type: flat, amount: "200.00"}
      - {key: api, type: usage, meter: api_calls, included: 50000, model: per_unit, unit_amount: 0.003}
"""


def put_yaml(client: TestClient, text: str, **params: Any) -> Any:
    return client.put(
        "/v1/catalog", content=text, headers={"content-type": "application/yaml"}, params=params
    )


def test_put_yaml_then_json_round_trip(client: TestClient) -> None:
    created = put_yaml(client, YAML)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["changed"] and not body["dry_run"]
    assert body["plans"][0] == {
        "key": "growth",
        "action": "created",
        "version": 1,
        "previous_version": None,
        "changes": body["plans"][0]["changes"],
    }
    document = client.get("/v1/catalog").json()
    assert document["plans"][0]["charges"][1]["unit_amount"] == "0.003"
    again = client.put("/v1/catalog", json=document)
    assert again.status_code == 200
    assert not again.json()["changed"]


def test_dry_run_and_new_versions(client: TestClient) -> None:
    put_yaml(client, YAML)
    changed = YAML.replace("unit_amount: 0.003", "unit_amount: 0.004")
    preview = put_yaml(client, changed, dry_run="true").json()
    assert preview["dry_run"] and preview["plans"][0]["version"] == 2
    assert client.get("/v1/plans/growth").json()["version"] == 1
    applied = put_yaml(client, changed).json()["plans"][0]
    assert applied["action"] == "updated"
    assert applied["changes"] == [
        {"path": "charges[api].unit_amount", "old": "0.003", "new": "0.004"}
    ]
    assert client.get("/v1/plans/growth").json()["version"] == 2
    old = client.get("/v1/plans/growth", params={"version": 1}).json()
    assert old["charges"][1]["unit_amount"] == "0.003"
    versions = client.get("/v1/plans/growth/versions").json()["data"]
    assert [(v["version"], v["latest"]) for v in versions] == [(1, False), (2, True)]
    assert versions[0]["created_at"].endswith("Z")
    assert [p["key"] for p in client.get("/v1/plans").json()["data"]] == ["growth"]


def test_invalid_documents_list_every_issue_with_its_location(client: TestClient) -> None:
    bad = {
        "meters": [{"key": "m", "event_type": "e", "aggregation": "sum"}],
        "plans": [
            {
                "key": "p",
                "currency": "XXX1",
                "interval": "month",
                "charges": [{"key": "u", "type": "usage", "meter": "ghost", "model": "per_unit"}],
            }
        ],
    }
    response = client.put("/v1/catalog", json=bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_catalog"
    locations = {issue["location"] for issue in error["details"]["issues"]}
    assert "plans[0].currency" in locations


def test_reference_and_rule_issues_have_locations(client: TestClient) -> None:
    bad = {
        "meters": [{"key": "m", "event_type": "e", "aggregation": "sum"}],
        "plans": [
            {
                "key": "p",
                "currency": "USD",
                "interval": "month",
                "charges": [{"key": "u", "type": "usage", "meter": "ghost", "model": "per_unit"}],
            }
        ],
    }
    error = client.put("/v1/catalog", json=bad).json()["error"]
    locations = {issue["location"] for issue in error["details"]["issues"]}
    assert {
        "meters[0].value",
        "plans[0].charges[0].meter",
        "plans[0].charges[0].unit_amount",
    } <= locations


def test_bad_bodies_are_coded_4xx(client: TestClient) -> None:
    cases = [
        (client.put("/v1/catalog", content=b"{not json", headers={"content-type": "application/json"}), 422, "invalid_catalog"),
        (client.put("/v1/catalog", content=b"\xff\xfe", headers={"content-type": "application/json"}), 422, "invalid_catalog"),
        (client.put("/v1/catalog", content=b"[1, 2]", headers={"content-type": "application/json"}), 422, "invalid_catalog"),
        (client.put("/v1/catalog", content=b"", headers={"content-type": "application/yaml"}), 422, "invalid_catalog"),
        (client.put("/v1/catalog", content=b"<a/>", headers={"content-type": "application/xml"}), 415, "unsupported_media_type"),
        (client.get("/v1/plans/nope"), 404, "plan_not_found"),
        (client.get("/v1/plans/nope/versions"), 404, "plan_not_found"),
        (client.put("/v1/catalog", json={}, params={"dry_run": "maybe"}), 422, "invalid_request"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code


def test_post_plan_creates_then_versions(client: TestClient) -> None:
    put_yaml(client, YAML)
    plan = client.get("/v1/plans/growth").json()
    plan.pop("version")
    plan["key"] = "scale"
    created = client.post("/v1/plans", json=plan)
    assert created.status_code == 201
    assert created.json()["version"] == 1
    assert created.json()["change"]["action"] == "created"
    plan["trial_days"] = 14
    updated = client.post("/v1/plans", json=plan)
    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    bad = client.post("/v1/plans", json={**plan, "currency": "nope"})
    assert bad.status_code == 422
    assert [i["location"] for i in bad.json()["error"]["details"]["issues"]] == ["currency"]
    latest = client.get("/v1/plans/scale", params={"version": 0})
    assert latest.status_code == 422


def test_another_tenant_sees_nothing(client: TestClient, container: Container) -> None:
    put_yaml(client, YAML)
    other = container.tenants.create_key("acme-corp", "k").key
    headers = {"authorization": f"Bearer {other}"}
    assert client.get("/v1/plans", headers=headers).json()["data"] == []
    assert client.get("/v1/plans/growth", headers=headers).status_code == 404
    assert client.get("/v1/catalog", headers=headers).json() == {"meters": [], "plans": []}
    assert client.get("/v1/catalog", headers={"authorization": "Bearer nope"}).status_code == 401


def test_yaml_aliases_are_refused(client: TestClient) -> None:
    bomb = 'a: &a ["x", "x"]\nb: &b [*a, *a]\nmeters: [*b, *b]\n'
    response = put_yaml(client, bomb)
    assert response.status_code == 422
    issue = response.json()["error"]["details"]["issues"][0]
    assert issue["location"].startswith("<body>:") and "alias" in issue["message"]

"""Issue 17 item 1: hostile bodies are refused cheaply and never freeze the server.

Reproductions: a YAML catalog of 3,000 nested ``[`` (took ~9 s on the event loop), a
depth-500 YAML and a 5,000-deep JSON catalog (500 ``RecursionError``), a 4 MB body of
``[`` (held the server 24 minutes). Each is now a coded 4xx, and ``/healthz`` keeps
answering within 100 ms while they are being refused (measured against a real server
in ``tests/e2e/test_hostile_load.py``)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tallybook.documents.catalog.bounds import MAX_DEPTH, CatalogTooDeep
from tallybook.documents.catalog.document import load_catalog_text

YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}
FLOW_3000 = "meters: " + "[" * 3000 + "]" * 3000 + "\nplans: []"
BLOCK_500 = "meters:\n" + "".join(f"{'  ' * i}  k{i}:\n" for i in range(500)) + "plans: []\n"
SEQUENCE_500 = "meters:\n" + "".join(f"{'  ' * i}- \n" for i in range(500))
JSON_5000 = '{"meters": ' + "[" * 5000 + "]" * 5000 + ', "plans": []}'
FOUR_MB = "[" * (4 * 1024 * 1024)


def too_deep(response: httpx.Response) -> None:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["code"] == "too_deep" and error["details"]["max_depth"] == MAX_DEPTH


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(FLOW_3000, YAML, id="yaml-3000-flow"),
        pytest.param(BLOCK_500, YAML, id="yaml-500-block-mappings"),
        pytest.param(SEQUENCE_500, YAML, id="yaml-500-block-sequences"),
        pytest.param(JSON_5000, JSON, id="json-5000"),
        pytest.param("[" * 200_000, YAML, id="yaml-unbalanced"),
        pytest.param(
            '{"plans": ' + '["]]]]", ' * 2000 + "1" + "]" * 2000 + "}",
            JSON,
            id="json-closers-in-strings",
        ),
        pytest.param(
            "plans: " + '[ "]]]]", ' * 2000 + "1" + "]" * 2000, YAML, id="yaml-closers-in-strings"
        ),
    ],
)
def test_deep_catalogs_are_too_deep_and_quick(
    client: TestClient, body: str, headers: dict[str, str]
) -> None:
    for path in ("/v1/catalog?dry_run=true", "/v1/meters", "/v1/plans"):
        # How quickly is bench/hostile_load.py's to measure; here: refused for depth.
        response = client.request(
            "PUT" if "catalog" in path else "POST", path, content=body, headers=headers
        )
        too_deep(response)


def test_brackets_inside_strings_are_not_nesting(client: TestClient) -> None:
    name = "[{" * 200
    body = {"meters": [{"key": "m", "event_type": "e", "aggregation": "count", "name": name}]}
    response = client.put("/v1/catalog?dry_run=true", json=body)
    assert response.status_code == 200, response.text
    escaped = '{"meters": [{"key": "m", "event_type": "e", "aggregation": "count", "name": "\\\\\\"[[[["}]}'
    assert client.put("/v1/catalog?dry_run=true", content=escaped, headers=JSON).status_code == 200


def test_a_four_megabyte_document_is_413(client: TestClient) -> None:
    for path in ("/v1/catalog", "/v1/customers"):
        response = (
            client.put(path, content=FOUR_MB, headers=YAML)
            if "catalog" in path
            else (client.post(path, content=FOUR_MB, headers=JSON))
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"


def test_other_bodies_nested_too_deep_are_4xx(client: TestClient) -> None:
    deep = "[" * 5000 + "]" * 5000
    customer = client.post("/v1/customers", content='{"id": "c", "x": ' + deep + "}", headers=JSON)
    assert 400 <= customer.status_code < 500 and customer.json()["error"]["code"]
    events = client.post("/v1/events", content=deep, headers=JSON)
    assert events.status_code == 400 and events.json()["error"]["code"] == "invalid_json"
    props: object = 1
    for _ in range(900):
        props = {"a": props}
    event = {"id": "e", "customer": "c", "type": "t", "properties": props}
    answer = client.post("/v1/events", json=event)
    assert answer.status_code == 200
    assert answer.json()["errors"][0]["code"] == "properties_too_deep"


def test_the_cli_loader_refuses_deep_documents_too() -> None:
    for text in (FLOW_3000, BLOCK_500, JSON_5000):
        with pytest.raises(CatalogTooDeep) as refused:
            load_catalog_text(text, filename="deep.yaml")
        assert refused.value.code == "too_deep"

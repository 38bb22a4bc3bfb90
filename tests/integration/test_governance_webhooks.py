"""``catalog.change_approved`` reaches a real local receiver through the outbox, signed,
once per approval; a rejection sends nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tests.integration.test_governance_api import CATALOG, MID_MARCH, _customer, _key, _plan
from tests.webhook_receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


def test_change_approved_webhook_is_delivered_once(
    client: TestClient, container: Container, receiver: Receiver
) -> None:
    created = client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["catalog.change_approved"]}
    )
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    _customer(client, "acme")
    editor = _key(client, "alice-editor", "pricing_editor")
    approver = _key(client, "bob-approver", "pricing_approver")

    def propose() -> str:
        body = {"document": _plan("150.00", "0.20"), "effective_at": MID_MARCH}
        answer = client.post("/v1/catalog/changes", json=body, headers=editor)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    rejected = propose()
    assert client.post(f"/v1/catalog/changes/{rejected}/reject", headers=approver).is_success
    approved = propose()
    assert client.post(f"/v1/catalog/changes/{approved}/approve", headers=approver).is_success
    asyncio.run(container.delivery_worker().drain())
    got = receiver.ok()
    assert len(got) == 1 and got[0].verified == [0]
    body = got[0].json
    assert body["type"] == "catalog.change_approved"
    assert body["data"]["change"] == approved
    assert body["data"]["approved_by"] == "bob-approver"
    assert body["data"]["author"] == "alice-editor"
    assert body["data"]["plans"]["growth"]["from"] == 1
    assert body["data"]["plans"]["growth"]["to"] == 2
    assert body["data"]["plans"]["growth"]["migrated"] == 1
    assert body["data"]["effective_at"] == MID_MARCH

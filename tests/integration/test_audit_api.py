"""The audit log over HTTP on both stores: every mutation is an entry, the chain verifies,
and editing a stored entry is caught and named."""

from __future__ import annotations

import hashlib
import json
import threading

from fastapi.testclient import TestClient
from sqlalchemy import text

from tallybook.bootstrap import Container
from tallybook.domain.governance.audit import GENESIS


def _entries(client: TestClient, **params: str) -> list[dict]:
    answer = client.get("/v1/audit", params={"limit": "1000", **params})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def test_mutations_are_audited_with_actor_object_and_after(client: TestClient) -> None:
    created = client.post("/v1/customers", json={"id": "acme", "currency": "USD"})
    assert created.status_code == 201, created.text
    patched = client.patch("/v1/customers/acme", json={"name": "Acme Inc"})
    assert patched.status_code == 200, patched.text
    client.post("/v1/customers", json={"id": "acme", "currency": "EUR"})  # 409: not audited
    key = client.post("/v1/keys", json={"name": "viewer-bot", "roles": ["viewer"]})
    assert key.status_code == 201
    entries = _entries(client)
    assert [e["action"] for e in entries] == [
        "POST /v1/customers",
        "PATCH /v1/customers/{customer_id}",
        "POST /v1/keys",
    ]
    first, second, third = entries
    assert first["object"] == "customers/acme" and second["object"] == "customers/acme"
    assert first["actor"] == "admin (TALLYBOOK_API_KEY)"
    assert first["after"]["currency"] == "USD" and second["after"]["name"] == "Acme Inc"
    assert first["before"] is None  # a create has no before
    assert second["before"]["id"] == "acme" and second["before"]["name"] is None
    assert third["object"] == f"keys/{key.json()['id']}"
    assert third["after"]["key"] == "[redacted]"  # the secret never reaches the log
    assert key.json()["key"] not in json.dumps(entries)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert first["prev_hash"] == GENESIS and second["prev_hash"] == first["hash"]
    assert len(first["hash"]) == 64
    assert _entries(client, object="customers/acme") == entries[:2]
    assert _entries(client, actor="nobody") == []
    verified = client.get("/v1/audit/verify").json()
    assert verified == {"ok": True, "entries": 3, "broken_at": None, "problem": None}


def test_hash_is_sha256_of_prev_hash_and_canonical_entry(client: TestClient) -> None:
    client.post("/v1/customers", json={"id": "c1", "currency": "USD"})
    entry = _entries(client)[0]
    fields = {k: entry[k] for k in entry if k not in ("prev_hash", "hash")}
    at = fields["at"]  # the stored instant with microseconds, as hashed
    fields["at"] = at[:-1] + ".000000Z" if "." not in at else at
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256((entry["prev_hash"] + canonical).encode()).hexdigest()
    assert digest == entry["hash"]


def test_editing_a_stored_entry_is_named_by_verify(
    client: TestClient, container: Container
) -> None:
    for name in ("a", "b", "c", "d"):
        assert client.post("/v1/customers", json={"id": name, "currency": "USD"}).is_success
    assert client.get("/v1/audit/verify").json()["ok"] is True
    tampered = json.dumps({"id": "b", "currency": "EUR"})
    with container.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET after = :a WHERE tenant_id = 'default' AND seq = 2"),
            {"a": tampered},
        )
    answer = client.get("/v1/audit/verify").json()
    assert answer["ok"] is False and answer["broken_at"] == 2
    assert answer["problem"] == "hash_mismatch"


def test_rewriting_a_hash_breaks_the_next_link(client: TestClient, container: Container) -> None:
    for name in ("a", "b", "c"):
        assert client.post("/v1/customers", json={"id": name, "currency": "USD"}).is_success
    with container.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
        row = conn.execute(text("SELECT prev_hash FROM audit_log WHERE seq = 1")).one()
        # a forger who recomputes entry 1's hash still breaks entry 2's link
        conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 1"), {"h": "f" * 64})
        assert row.prev_hash == GENESIS
    answer = client.get("/v1/audit/verify").json()
    assert answer["ok"] is False and answer["broken_at"] == 1


def test_deleting_the_last_entry_is_caught(client: TestClient, container: Container) -> None:
    for name in ("a", "b"):
        assert client.post("/v1/customers", json={"id": name, "currency": "USD"}).is_success
    with container.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    answer = client.get("/v1/audit/verify").json()
    assert answer == {"ok": False, "entries": 1, "broken_at": 2, "problem": "entries_missing"}


def test_concurrent_appends_never_fork_the_chain(client: TestClient, container: Container) -> None:
    errors: list[BaseException] = []

    def create(index: int) -> None:
        try:
            answer = client.post("/v1/customers", json={"id": f"c{index}", "currency": "USD"})
            assert answer.status_code == 201, answer.text
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    entries = _entries(client)
    assert [e["seq"] for e in entries] == list(range(1, 13))
    assert client.get("/v1/audit/verify").json() == {
        "ok": True,
        "entries": 12,
        "broken_at": None,
        "problem": None,
    }


def test_audit_filters_refuse_bad_input(client: TestClient) -> None:
    assert client.get("/v1/audit", params={"from": "yesterday"}).json()["error"]["code"] == (
        "invalid_instant"
    )
    assert client.get("/v1/audit", params={"cursor": "zz"}).json()["error"]["code"] == (
        "invalid_cursor"
    )
    assert client.get("/v1/audit", params={"limit": "0"}).status_code == 422
    assert client.get("/v1/audit", params={"colour": "red"}).status_code in (400, 422)

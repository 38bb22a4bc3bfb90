"""`make run` seeds a demo tenant through the real services; a second start re-uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tallybook.demo import KEY_FILE, seed_demo


def test_demo_seed_is_usable_and_idempotent(
    container: Container, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    key = seed_demo(container)
    assert (tmp_path / KEY_FILE).read_text().strip() == key
    assert seed_demo(container) == key  # second start: same key, nothing seeded twice

    headers = {"Authorization": f"Bearer {key}"}
    customers = client.get("/v1/customers", headers=headers).json()["data"]
    assert sorted(c["id"] for c in customers) == ["acme", "globex", "initech"]
    invoices = client.get("/v1/invoices?customer=acme", headers=headers).json()["data"]
    finalized = [i for i in invoices if i["status"] == "finalized"]
    assert len(finalized) >= 2
    usage = client.get("/v1/customers/acme/usage", headers=headers).json()
    assert {c["charge"] for c in usage["charges"]} == {"api", "tokens", "storage"}

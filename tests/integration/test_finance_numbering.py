"""Number prefixes per series (issue 16): the seller profile's ``invoice_prefix`` and
``credit_note_prefix``. A final invoice keeps the prefix of its parties snapshot, so a
later change reads only on later invoices; invoices are found by their number with any
prefix; credit notes keep the prefix they were issued with. Both stores, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error


def _purchase(client: TestClient, grant: str) -> dict[str, Any]:
    """A finalized invoice of its own: a paid credit grant's purchase."""
    body = {"id": grant, "amount": "10.00", "currency": "EUR", "category": "paid"}
    assert client.post("/v1/customers/c/credit-grants", json=body).status_code == 201
    found = client.get("/v1/invoices", params={"customer": "c"}).json()["data"]
    (invoice,) = [i for i in found if i["lines"][0]["charge"] == grant]
    return dict(invoice)


def test_each_series_reads_with_the_prefix_it_was_issued_with(client: TestClient) -> None:
    assert client.post("/v1/customers", json={"id": "c", "currency": "EUR"}).status_code == 201
    default = _purchase(client, "g0")
    assert default["number"] == "INV-000001"

    seller = {"legal_name": "ACME", "invoice_prefix": "ACME-2026-", "credit_note_prefix": "ACN/"}
    answer = client.patch("/v1/tenant", json={"seller": seller})
    assert answer.status_code == 200, answer.text
    assert answer.json()["seller"]["invoice_prefix"] == "ACME-2026-"
    first = _purchase(client, "g1")
    assert first["number"] == "ACME-2026-000002"  # one counter, the prefix is how it reads
    for reference in ("ACME-2026-000002", "acme-2026-000002", "2", "INV-000002"):
        assert client.get(f"/v1/invoices/{reference}").json()["id"] == first["id"], reference
    listed = client.get("/v1/invoices", params={"number": "ACME-2026-000002"}).json()["data"]
    assert [i["id"] for i in listed] == [first["id"]]

    note = client.post(
        f"/v1/invoices/{first['id']}/credit-notes",
        json={"lines": "all", "reason": "Duplicate purchase", "refund": "external"},
    )
    assert note.status_code == 201, note.text
    assert note.json()["number"] == "ACN/000001"

    renamed = {**seller, "invoice_prefix": "NEW-", "credit_note_prefix": None}
    assert client.patch("/v1/tenant", json={"seller": renamed}).status_code == 200
    second = _purchase(client, "g2")
    assert second["number"] == "NEW-000003"
    # finalized invoices and issued notes keep their numbers
    assert client.get(f"/v1/invoices/{first['id']}").json()["number"] == "ACME-2026-000002"
    assert client.get(f"/v1/invoices/{default['id']}").json()["number"] == "INV-000001"
    shown = client.get(f"/v1/credit-notes/{note.json()['id']}").json()
    assert shown["number"] == "ACN/000001"
    later = client.post(
        f"/v1/invoices/{second['id']}/credit-notes",
        json={"lines": "all", "reason": "Duplicate purchase", "refund": "external"},
    )
    assert later.json()["number"] == "CN-000002"
    html = client.get(f"/v1/invoices/{first['id']}.html").text
    assert "ACME-2026-000002" in html and "ACN/000001" in html


@pytest.mark.parametrize(
    ("prefix", "status", "code"),
    [
        ("ACME-2026", 422, "invalid_number_prefix"),  # ends in a digit: unreadable numbers
        ("A B-", 422, "invalid_number_prefix"),
        ("Ä-", 422, "invalid_number_prefix"),
        ("", 422, "invalid_number_prefix"),
        ("X" * 21, 422, "invalid_request"),
    ],
)
def test_bad_prefixes_are_coded_4xx(
    client: TestClient, prefix: str, status: int, code: str
) -> None:
    for field in ("invoice_prefix", "credit_note_prefix"):
        answer = client.patch("/v1/tenant", json={"seller": {field: prefix}})
        assert error(answer) == (status, code), (field, answer.text)
    assert client.get("/v1/tenant").json()["seller"]["invoice_prefix"] is None

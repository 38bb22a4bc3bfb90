"""Credit notes through the HTTP API on both stores (issue 16): a partial credit note on a
finalized invoice refunds one line (its tax with it) into the credits ledger; "all" with
an external refund; gapless CN- numbers; coded 4xx for bad requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_KEY
from tests.integration.test_customers_api import error
from tests.integration.test_finance_taxes import _line, _setup, _usage_invoice
from tests.integration.test_invoice_documents import pdf_text

D = Decimal


def _index(invoice: dict[str, Any], charge: str) -> int:
    return [li["charge"] for li in invoice["lines"]].index(charge)


def _note(client: TestClient, invoice: str, **body: Any) -> Any:
    return client.post(f"/v1/invoices/{invoice}/credit-notes", json=body)


def test_a_partial_credit_note_refunds_one_line_into_the_credits_ledger(
    client: TestClient,
) -> None:
    _setup(client)
    de = _usage_invoice(client, "de")
    before = D(client.get("/v1/customers/de/credits").json()["balance"])
    base = _index(de, "base")
    made = _note(
        client,
        de["id"],
        lines=[{"line": base, "amount": "99.00"}],
        reason="Base fee charged twice",
        refund="credit_balance",
    )
    assert made.status_code == 201, made.text
    note = made.json()
    # 99.00 back with its 19 % VAT (18.81): 117.81 into the credits ledger
    assert note["number"] == "CN-000001" and note["invoice"] == de["id"]
    assert (D(note["subtotal"]), D(note["tax_total"]), D(note["total"])) == (
        D("99.00"),
        D("18.81"),
        D("117.81"),
    )
    assert [(li["line"], li["amount"]) for li in note["lines"]] == [(base, "99.00")]
    assert client.get("/v1/email-deliveries").json()["data"] == []  # e-mails are off
    audited = client.get("/v1/audit", params={"limit": 500}).json()["data"][-1]
    assert audited["action"] == "POST /v1/invoices/{reference}/credit-notes"
    assert audited["object"] == f"invoices/{de['id']}/credit-notes/{note['id']}"
    assert audited["reason"] == "Base fee charged twice"
    after = D(client.get("/v1/customers/de/credits").json()["balance"])
    assert after - before == D("117.81")
    ledger = client.get("/v1/customers/de/credit-ledger").json()["data"]
    assert ledger[-1]["grant"] == note["grant"] and ledger[-1]["type"] == "grant"

    shown = client.get(f"/v1/invoices/{de['id']}").json()
    summary = {k: v for k, v in shown["credit_notes"][0].items() if k != "created_at"}
    assert len(shown["credit_notes"]) == 1 and summary == {
        "id": note["id"],
        "number": "CN-000001",
        "total": "117.81",
        "refund": "credit_balance",
        "reason": "Base fee charged twice",
    }
    assert shown["total"] == de["total"]  # the invoice itself never changes
    html = client.get(f"/v1/invoices/{de['id']}.html").text
    assert "CN-000001" in html and "Base fee charged twice" in html
    assert "CN-000001" in pdf_text(client.get(f"/v1/invoices/{de['id']}.pdf").content)
    with TestClient(client.app) as browser:  # the portal, logged in like a person
        login = browser.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
        assert login.status_code == 303
        page = browser.get("/portal/customers/de").text
        link = f'<a href="/v1/credit-notes/{note["id"]}.html">CN-000001: €117.81</a>'
        assert link in page and f'href="/v1/credit-notes/{note["id"]}.pdf"' in page
        document = browser.get(f"/v1/credit-notes/{note['id']}.pdf")  # the portal's cookie
        assert document.status_code == 200 and "CN-000001" in pdf_text(document.content)

    # the line is used up: one cent more is refused, nothing was written
    over = _note(
        client,
        de["id"],
        lines=[{"line": base, "amount": "0.01"}],
        reason="again",
        refund="external",
    )
    assert error(over) == (422, "amount_exceeds_creditable")
    # a finalized invoice with credit notes is corrected, not voided
    assert error(client.post(f"/v1/invoices/{de['id']}/void")) == (409, "invoice_has_credit_notes")


def test_crediting_a_line_in_steps_gives_back_exactly_its_tax(client: TestClient) -> None:
    _setup(client)
    de = _usage_invoice(client, "de")
    calls = _index(de, "calls")
    assert _line(de, "calls")["tax_amount"] == "4.75"  # on 25.00 (35.00 less 10.00 credits)
    first = _note(
        client, de["id"], lines=[{"line": calls, "amount": "10.00"}], reason="a", refund="external"
    ).json()
    rest = _note(
        client, de["id"], lines=[{"line": calls, "amount": "15.00"}], reason="b", refund="external"
    ).json()
    assert (first["tax_total"], rest["tax_total"]) == ("1.90", "2.85")  # 4.75 in all
    assert (first["number"], rest["number"]) == ("CN-000001", "CN-000002")
    assert error(
        _note(
            client,
            de["id"],
            lines=[{"line": calls, "amount": "0.01"}],
            reason="c",
            refund="external",
        )
    ) == (422, "amount_exceeds_creditable")


def test_all_credits_every_line_and_an_external_refund_writes_no_grant(
    client: TestClient,
) -> None:
    _setup(client)
    uk = _usage_invoice(client, "uk")
    note = _note(client, uk["id"], lines="all", reason="Cancelled", refund="external").json()
    # inclusive VAT: the amounts hold the tax; nothing is added to the total
    assert (note["subtotal"], note["tax_total"], note["total"]) == ("144.00", "24.00", "144.00")
    assert note["grant"] is None
    assert client.get("/v1/customers/uk/credit-grants").json()["data"] == []
    again = _note(client, uk["id"], lines="all", reason="again", refund="external")
    assert error(again) == (422, "nothing_to_credit")
    listed = client.get(f"/v1/invoices/{uk['id']}/credit-notes").json()["data"]
    assert [n["id"] for n in listed] == [note["id"]]
    assert client.get(f"/v1/credit-notes/{note['id']}").json()["total"] == "144.00"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"lines": [{"line": 99, "amount": "1.00"}]}, 422, "invalid_line"),
        ({"lines": [{"line": 0, "amount": "0"}]}, 422, "invalid_amount"),
        ({"lines": [{"line": 0, "amount": "1.001"}]}, 422, "invalid_amount"),
        ({"lines": [{"line": 0, "amount": "-1"}]}, 422, "invalid_amount"),
        ({"lines": [{"line": 0, "amount": "abc"}]}, 422, "invalid_number"),
        ({"lines": "some"}, 422, "invalid_request"),
        ({"refund": "cash"}, 422, "invalid_refund"),
        ({"reason": "\u0007"}, 422, "invalid_reason"),
    ],
)
def test_bad_credit_notes_are_coded_4xx(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    _setup(client)
    us = _usage_invoice(client, "us")
    request = {"lines": "all", "reason": "x", "refund": "external", **body}
    assert error(client.post(f"/v1/invoices/{us['id']}/credit-notes", json=request)) == (
        status,
        code,
    )
    assert client.get(f"/v1/invoices/{us['id']}/credit-notes").json()["data"] == []


def test_draft_void_and_unknown_invoices_take_no_credit_note(client: TestClient) -> None:
    _setup(client)
    body = {"lines": "all", "reason": "x", "refund": "external"}
    assert client.patch("/v1/tenant", json={"grace_seconds": 86400}).status_code == 200
    run = client.post("/v1/billing-runs", json={"as_of": "2026-03-01T01:00:00Z"})
    assert run.status_code == 200
    found = client.get("/v1/invoices", params={"customer": "us", "status": "draft"}).json()
    drafts = found["data"]
    assert drafts, "the invoice of March 1 is a draft (grace)"
    answer = client.post(f"/v1/invoices/{drafts[0]['id']}/credit-notes", json=body)
    assert error(answer) == (409, "invalid_invoice_status")
    fr = _usage_invoice(client, "fr")
    assert client.post(f"/v1/invoices/{fr['id']}/void").status_code == 200
    answer = client.post(f"/v1/invoices/{fr['id']}/credit-notes", json=body)
    assert error(answer) == (409, "invalid_invoice_status")
    assert error(client.post("/v1/invoices/nope/credit-notes", json=body)) == (
        404,
        "invoice_not_found",
    )
    assert error(client.get("/v1/credit-notes/nope")) == (404, "credit_note_not_found")

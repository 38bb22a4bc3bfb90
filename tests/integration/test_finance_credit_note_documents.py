"""A credit note's own documents (issue 16): ``/v1/credit-notes/{id}.pdf`` and ``.html``
show its number, the invoice it corrects, the credited lines with the tax given back per
rate, the reason, the refund method and the invoice's parties (with the logo the invoice
was finalized with); a Japanese name and ``€`` print (poppler's ``pdftotext``). Both
stores."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error
from tests.integration.test_finance_credit_notes import _index, _note
from tests.integration.test_finance_logo import image_bytes, pdf_images
from tests.integration.test_finance_pdf import JAPANESE, _finalized_invoice
from tests.integration.test_finance_taxes import _setup, _usage_invoice
from tests.integration.test_invoice_documents import pdf_text


def _flat(text: str) -> str:
    return text.replace("\u00a0", " ")


def test_a_partial_credit_note_prints_its_lines_taxes_reason_and_parties(
    client: TestClient,
) -> None:
    logo = image_bytes((90, 30), (10, 120, 60))
    answer = client.put("/v1/tenant/logo", content=logo, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200
    invoice_id = _finalized_invoice(client)  # jp: base 99.00 at 19 %, ebook 10.00 at 7 %
    invoice: dict[str, Any] = client.get(f"/v1/invoices/{invoice_id}").json()
    base = _index(invoice, "base")
    made = _note(
        client, invoice_id, lines=[{"line": base, "amount": "50.00"}],
        reason="Rabatt nachträglich gewährt", refund="credit_balance",
    )  # fmt: skip
    assert made.status_code == 201, made.text
    note = made.json()
    # a new logo after finalization: the note shows the invoice's (snapshot) logo
    newer = image_bytes((200, 50), (200, 0, 0))
    client.put("/v1/tenant/logo", content=newer, headers={"Content-Type": "image/png"})

    response = client.get(f"/v1/credit-notes/{note['id']}.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and b"/FontFile2" in response.content
    assert 'filename="CN-000001.pdf"' in response.headers["content-disposition"]
    text = _flat(pdf_text(response.content))
    assert "Credit note CN-000001" in text
    assert invoice["number"] in text  # the invoice it corrects
    assert JAPANESE in text and "東京" in text  # the buyer from the invoice's snapshot
    assert "Tallybook Demo GmbH" in text and "Tax ID: DE123456789" in text
    # 50.00 of the 99.00 base fee: 19 % of it, 9.50, back; total 59.50
    assert "DE VAT 19% on €50.00" in text and "€9.50" in text and "€59.50" in text
    assert "Rabatt nachträglich gewährt" in text
    assert "Credited to the customer's credit balance" in text
    assert "Zahlbar in 14 Tagen" in text  # the seller's footer
    assert "?" not in text
    assert [(i["width"], i["height"]) for i in pdf_images(response.content)] == [("90", "30")]

    html = client.get(f"/v1/credit-notes/{note['id']}.html")
    assert html.status_code == 200 and "Content-Security-Policy" in html.headers
    page = _flat(html.text)
    assert "Credit note CN-000001" in page and JAPANESE in page
    assert "DE VAT 19% on €50.00" in page and "Rabatt nachträglich gewährt" in page
    assert f'href="/v1/credit-notes/{note["id"]}.pdf"' in page

    german = _flat(pdf_text(client.get(f"/v1/credit-notes/{note['id']}.pdf?locale=de_DE").content))
    german = german.replace("\u202f", " ")
    assert "59,50 €" in german and "on 50,00 €" in german and "+ DE VAT 19" in german


def test_each_step_of_a_line_credited_in_parts_shows_its_own_tax(client: TestClient) -> None:
    _setup(client)
    de = _usage_invoice(client, "de")
    calls = _index(de, "calls")  # tax 4.75 on 25.00 (35.00 less 10.00 credits)
    first = _note(
        client, de["id"], lines=[{"line": calls, "amount": "10.00"}], reason="a", refund="external"
    ).json()
    rest = _note(
        client, de["id"], lines=[{"line": calls, "amount": "15.00"}], reason="b", refund="external"
    ).json()
    one = _flat(pdf_text(client.get(f"/v1/credit-notes/{first['id']}.pdf").content))
    two = _flat(pdf_text(client.get(f"/v1/credit-notes/{rest['id']}.pdf").content))
    assert "DE VAT 19% on €10.00" in one and "€1.90" in one and "Refunded outside" in one
    assert "DE VAT 19% on €15.00" in two and "€2.85" in two and "CN-000002" in two
    assert "€2.85" not in one and "€1.90" not in two


def test_unknown_credit_notes_and_bad_queries_are_refused(client: TestClient) -> None:
    assert error(client.get("/v1/credit-notes/cn_nope.pdf")) == (404, "credit_note_not_found")
    assert error(client.get("/v1/credit-notes/cn_nope.html")) == (404, "credit_note_not_found")
    assert error(client.get("/v1/credit-notes/cn_nope.pdf?colour=red")) == (
        400,
        "unknown_parameter",
    )
    assert error(client.get("/v1/credit-notes/cn_nope.pdf?locale=xx_YY")) == (
        422,
        "invalid_locale",
    )

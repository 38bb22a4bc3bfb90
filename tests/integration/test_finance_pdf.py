"""Issue 16 "Done when": a Japanese customer name and the euro sign print in the PDF
(DejaVu Sans embedded, IPAGothic for the Japanese), read back with poppler's pdftotext;
the seller, tax id, tax rows and footer print too. Both stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.test_finance_taxes import CATALOG, RATES
from tests.integration.test_invoice_documents import pdf_text

JAPANESE = "株式会社テスト商事"
SELLER = {
    "legal_name": "Tallybook Demo GmbH",
    "address": {
        "line1": "Hauptstraße 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
    "tax_id": "DE123456789",
    "footer": "IBAN DE89 3704 0044 0532 0130 00 · Zahlbar in 14 Tagen",
}


def _finalized_invoice(client: TestClient) -> str:
    assert (
        client.patch("/v1/tenant", json={"grace_seconds": 0, "seller": SELLER}).status_code == 200
    )
    for rate in RATES:
        assert client.post("/v1/tax-rates", json=rate).status_code == 201
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    assert client.post("/v1/customers", json={"id": "jp", "currency": "EUR"}).status_code == 201
    details = {
        "legal_name": JAPANESE,
        "address": {"line1": "千代田区丸の内1-1", "city": "東京", "country": "JP"},
        "tax_rates": ["de_vat"],
    }
    assert client.patch("/v1/customers/jp", json=details).status_code == 200
    sub = {"customer": "jp", "plan": "eu", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-01-01T00:30:00Z"}).status_code == 200
    )
    found = client.get("/v1/invoices", params={"customer": "jp"}).json()["data"]
    assert [i["status"] for i in found] == ["finalized"]
    invoice_id: str = found[0]["id"]
    return invoice_id


def test_japanese_names_and_the_euro_sign_print_in_the_pdf(client: TestClient) -> None:
    invoice = _finalized_invoice(client)
    response = client.get(f"/v1/invoices/{invoice}.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert b"/FontFile2" in response.content  # an embedded TrueType font, not a core font
    text = pdf_text(response.content)
    assert JAPANESE in text and "東京" in text
    assert "€109.00" in text.replace("\u00a0", "")  # 99.00 + 10.00, before tax
    assert "Tallybook Demo GmbH" in text and "Hauptstraße 1" in text
    assert "Tax ID: DE123456789" in text
    assert "DE VAT 19% on €99.00" in text and "€18.81" in text
    assert "Zahlbar in 14 Tagen" in text
    assert "?" not in text.replace("?locale", "")  # nothing folded to a question mark


def test_the_html_page_shows_the_same_parties_and_taxes(client: TestClient) -> None:
    invoice = _finalized_invoice(client)
    html = client.get(f"/v1/invoices/{invoice}.html").text
    assert JAPANESE in html and "Tallybook Demo GmbH" in html
    assert "DE VAT 19% on €99.00" in html and "IBAN DE89" in html

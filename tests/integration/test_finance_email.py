"""Invoice e-mails against a real local SMTP server (aiosmtpd), both stores (issue 16):
the message arrives with its headers and the PDF; with the SMTP server down the delivery
is retried on schedule, never lost, and arrives once the server is back; a customer
without an address and an exhausted schedule end as visible failed deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.finance.delivery import RETRY_AFTER
from tests.conftest import TEST_KEY
from tests.integration.test_finance_taxes import CATALOG, RATES
from tests.integration.test_invoice_documents import pdf_text
from tests.smtp_receiver import free_port, smtp_server

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def mailing(db_url: str, port: int) -> Iterator[tuple[TestClient, Container, FixedClock]]:
    settings = Settings(
        database_url=db_url,
        api_key=TEST_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
        smtp_url=f"smtp://127.0.0.1:{port}",
        smtp_from="billing@tallybook.test",
        public_url="https://billing.tallybook.test/",
    )
    clock = FixedClock(START)
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    app = create_app(container=container)
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with TestClient(app, headers=headers) as client:
        yield client, container, clock
    container.close()


def _bill(client: TestClient, clock: FixedClock, customer: str, emails: list[str]) -> str:
    """Subscribe ``customer`` and finalize its opening invoice; its id."""
    if client.get("/v1/tax-rates/de_vat").status_code == 404:
        settings = {
            "grace_seconds": 0,
            "email_invoices": True,
            "seller": {"legal_name": "Tallybook Demo GmbH"},
        }
        assert client.patch("/v1/tenant", json=settings).json()["email_invoices"] is True
        for rate in RATES:
            assert client.post("/v1/tax-rates", json=rate).status_code == 201
        assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    assert client.post("/v1/customers", json={"id": customer, "currency": "EUR"}).status_code == 201
    details: dict[str, Any] = {"legal_name": f"{customer} GmbH", "tax_rates": ["de_vat"]}
    if emails:
        details["billing_emails"] = emails
    assert client.patch(f"/v1/customers/{customer}", json=details).status_code == 200
    sub = {"customer": customer, "plan": "eu", "start": clock.now().isoformat()}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    run = client.post("/v1/billing-runs", json={"as_of": clock.now().isoformat()})
    assert run.status_code == 200 and run.json()["invoices_finalized"] == 1, run.text
    found = client.get("/v1/invoices", params={"customer": customer}).json()["data"]
    invoice_id: str = found[0]["id"]
    return invoice_id


def _deliveries(client: TestClient, **params: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/email-deliveries", params=params)
    assert answer.status_code == 200, answer.text
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def test_the_invoice_arrives_with_its_pdf_and_headers(
    mailing: tuple[TestClient, Container, FixedClock], port: int
) -> None:
    client, container, clock = mailing
    with smtp_server(port) as inbox:
        invoice = _bill(client, clock, "de", ["ap@kunde.test", "cfo@kunde.test"])
        assert container.emails.run_once() == 1
        assert container.emails.run_once() == 0  # sent once, never twice
    assert len(inbox) == 1
    mail = inbox[0]
    assert mail.sender == "billing@tallybook.test"
    assert mail.recipients == ["ap@kunde.test", "cfo@kunde.test"]
    message = mail.message
    number = client.get(f"/v1/invoices/{invoice}").json()["number"]
    assert message["Subject"] == f"Invoice {number} from Tallybook Demo GmbH"
    assert message["To"] == "ap@kunde.test, cfo@kunde.test"
    assert message["X-Tallybook-Invoice"] == invoice
    assert message["Message-ID"] and message["Date"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert f"https://billing.tallybook.test/v1/invoices/{invoice}.html" in text
    assert "€128.51" in text  # 109.00 + 19 % VAT on 99.00 (18.81) and 7 % on 10.00 (0.70)
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"{number}.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    pdf = attachments[0].get_content()
    assert pdf.startswith(b"%PDF") and number in pdf_text(pdf)
    [delivery] = _deliveries(client, invoice=invoice)
    assert delivery["status"] == "sent" and delivery["attempts"] == 1
    assert delivery["message_id"] == message["Message-ID"]
    assert delivery["recipients"] == ["ap@kunde.test", "cfo@kunde.test"]


def test_smtp_down_is_retried_on_schedule_and_never_lost(
    mailing: tuple[TestClient, Container, FixedClock], port: int
) -> None:
    client, container, clock = mailing
    invoice = _bill(client, clock, "de", ["ap@kunde.test"])
    assert container.emails.run_once() == 1  # nothing listens on the port
    [delivery] = _deliveries(client, invoice=invoice)
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert "Connection refused" in delivery["last_error"] or "Errno" in delivery["last_error"]
    assert container.emails.run_once() == 0  # not due before its retry time
    clock.set(clock.now() + RETRY_AFTER[0])
    with smtp_server(port) as inbox:
        assert container.emails.run_once() == 1
    assert len(inbox) == 1 and inbox[0].message["X-Tallybook-Invoice"] == invoice
    [delivery] = _deliveries(client, invoice=invoice)
    assert delivery["status"] == "sent" and delivery["attempts"] == 2
    assert delivery["last_error"] is None


def test_failures_are_recorded_and_visible(
    mailing: tuple[TestClient, Container, FixedClock], port: int
) -> None:
    client, container, clock = mailing
    nobody = _bill(client, clock, "nobody", [])
    down = _bill(client, clock, "down", ["ap@down.test"])
    container.emails.run_once()
    failed = _deliveries(client, status="failed")
    assert [d["invoice"] for d in failed] == [nobody]
    assert "no billing e-mail" in failed[0]["last_error"]
    for wait in RETRY_AFTER:  # the whole schedule with the server down
        clock.set(clock.now() + wait)
        container.emails.run_once()
    failed = _deliveries(client, status="failed")
    assert sorted(d["invoice"] for d in failed) == sorted([nobody, down])
    [gave_up] = [d for d in failed if d["invoice"] == down]
    assert gave_up["attempts"] == len(RETRY_AFTER) + 1 and gave_up["last_error"]
    assert _deliveries(client, status="pending") == []
    bad = client.get("/v1/email-deliveries", params={"status": "lost"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_status"


def test_a_tenant_that_does_not_email_invoices_gets_no_delivery(
    mailing: tuple[TestClient, Container, FixedClock], port: int
) -> None:
    client, container, clock = mailing
    _bill(client, clock, "first", ["ap@first.test"])
    assert client.patch("/v1/tenant", json={"email_invoices": False}).status_code == 200
    with smtp_server(port) as inbox:
        container.emails.run_once()  # the first invoice was finalized while it was on
        clock.set(clock.now() + timedelta(days=1))
        _bill(client, clock, "second", ["ap@second.test"])
        container.emails.run_once()
    assert [m.recipients for m in inbox] == [["ap@first.test"]]
    assert len(_deliveries(client)) == 1


def test_a_credit_note_is_emailed_like_its_invoice(
    mailing: tuple[TestClient, Container, FixedClock], port: int
) -> None:
    client, container, clock = mailing
    with smtp_server(port) as inbox:
        invoice = _bill(client, clock, "de", ["ap@kunde.test"])
        assert container.emails.run_once() == 1
        made = client.post(
            f"/v1/invoices/{invoice}/credit-notes",
            json={"lines": "all", "reason": "Cancelled in January", "refund": "external"},
        )
        assert made.status_code == 201, made.text
        note = made.json()
        assert container.emails.run_once() == 1
        assert container.emails.run_once() == 0  # sent once, never twice
    assert len(inbox) == 2
    mail = inbox[1]
    assert mail.recipients == ["ap@kunde.test"]
    message = mail.message
    number = client.get(f"/v1/invoices/{invoice}").json()["number"]
    assert message["Subject"] == (
        f"Credit note {note['number']} for invoice {number} from Tallybook Demo GmbH"
    )
    assert message["X-Tallybook-Invoice"] == invoice
    assert message["X-Tallybook-Credit-Note"] == note["id"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    # the whole invoice credited: 109.00 and its tax (19.51) back, refunded elsewhere
    assert f"{note['number']} of " in text and "€128.51 refunded - Cancelled in January" in text
    attachments = list(message.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"{note['number']}.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    # the credit note's own document: its number, the invoice it corrects, tax per rate
    pdf = pdf_text(attachments[0].get_content())
    assert f"Credit note {note['number']}" in pdf and number in pdf
    assert "DE VAT 19% on €99.00" in pdf and "€18.81" in pdf
    assert "DE VAT reduced 7% on €10.00" in pdf and "€0.70" in pdf
    assert "€128.51" in pdf and "Cancelled in January" in pdf
    assert "Refunded outside Tallybook" in pdf and "Tallybook Demo GmbH" in pdf
    assert "Invoice " + number not in pdf.replace("invoice " + number, "")  # not the invoice
    assert "/v1/credit-notes/" in text  # the link names the note's page
    deliveries = _deliveries(client, invoice=invoice)  # by id: same instant, any order
    assert sorted((d["credit_note"] or "", d["status"]) for d in deliveries) == [
        ("", "sent"),
        (note["id"], "sent"),
    ]

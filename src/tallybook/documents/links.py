"""Where the portal and the API serve a customer's page and an invoice's documents."""

from __future__ import annotations

from urllib.parse import quote


def customer_url(customer_id: str) -> str:
    """The portal page of one customer."""
    return f"/portal/customers/{quote(customer_id, safe='')}"


def invoice_urls(invoice_id: str) -> tuple[str, str]:
    """The HTML and PDF documents of one invoice (``/v1/invoices/{id}.html`` and ``.pdf``)."""
    ref = quote(invoice_id, safe="")
    return f"/v1/invoices/{ref}.html", f"/v1/invoices/{ref}.pdf"


def credit_note_urls(note_id: str) -> tuple[str, str]:
    """The HTML and PDF documents of one credit note (``/v1/credit-notes/{id}.html``, ``.pdf``)."""
    ref = quote(note_id, safe="")
    return f"/v1/credit-notes/{ref}.html", f"/v1/credit-notes/{ref}.pdf"

"""The printable HTML invoice: one self-contained page (styles embedded, no network).

The seller's uploaded logo is embedded as a ``data:`` URI; its ``logo_url`` is only a link.

The page embeds its stylesheet and, with the toolbar, a one-line print script; its
Content-Security-Policy (``invoice_page_csp``) allows exactly those two by hash, so a
saved copy stands alone and nothing else can run or load in it.
"""

from __future__ import annotations

import base64

from markupsafe import Markup

from tallybook.documents.credit_note_document import CreditNoteView
from tallybook.documents.csp import invoice_csp
from tallybook.documents.invoice_view import InvoiceView
from tallybook.documents.templating import environment, static_text
from tallybook.domain.finance.logos import Logo

PRINT_SCRIPT = (
    'document.getElementById("print").addEventListener("click", function () { window.print(); });'
)


def logo_data_uri(logo: Logo | None) -> str:
    """The seller's logo as a ``data:`` URI (the page's CSP allows ``img-src data:``), so
    the page stays self-contained; "" without a logo."""
    if logo is None:
        return ""
    return f"data:{logo.content_type};base64,{base64.b64encode(logo.data).decode('ascii')}"


def invoice_page_csp() -> str:
    """The Content-Security-Policy header value for pages of ``render_invoice_html``."""
    return invoice_csp(static_text("invoice.css"), PRINT_SCRIPT)


def render_invoice_html(
    view: InvoiceView,
    *,
    lang: str = "en",
    back_url: str | None = None,
    pdf_url: str | None = None,
    toolbar: bool = True,
) -> str:
    """The page for ``view``; the toolbar (back, PDF, print) is hidden when printing."""
    template = environment().get_template("invoice.html")
    return template.render(
        inv=view,
        logo_src=logo_data_uri(view.logo),
        css=Markup(static_text("invoice.css")),  # our own file, never user input
        script=Markup(PRINT_SCRIPT),
        lang=lang,
        back_url=back_url,
        pdf_url=pdf_url,
        toolbar=toolbar,
    )


def render_credit_note_html(
    view: CreditNoteView,
    *,
    lang: str = "en",
    back_url: str | None = None,
    pdf_url: str | None = None,
    toolbar: bool = True,
) -> str:
    """The page of a credit note (``documents.credit_note_document``): the invoice page's
    stylesheet, script and policy (``invoice_page_csp``), the note's own layout."""
    template = environment().get_template("credit_note.html")
    return template.render(
        note=view,
        logo_src=logo_data_uri(view.logo),
        css=Markup(static_text("invoice.css")),  # our own file, never user input
        script=Markup(PRINT_SCRIPT),
        lang=lang,
        back_url=back_url,
        pdf_url=pdf_url,
        toolbar=toolbar,
    )

"""The printable HTML invoice: one self-contained page (styles embedded, no network)."""

from __future__ import annotations

from markupsafe import Markup

from tallybook.documents.invoice_view import InvoiceView
from tallybook.documents.templating import environment, static_text


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
        css=Markup(static_text("invoice.css")),  # our own file, never user input
        lang=lang,
        back_url=back_url,
        pdf_url=pdf_url,
        toolbar=toolbar,
    )

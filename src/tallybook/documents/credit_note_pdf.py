"""The PDF credit note (fpdf2, A4): the same content as its HTML page, drawn with the
layout every PDF document shares (``documents.pdf_layout``: fonts, colours, the seller's
logo and header, the parties, totals and closing blocks); only the credited lines are
its own."""

from __future__ import annotations

from fpdf.enums import XPos, YPos

from tallybook.documents import pdf_layout as layout
from tallybook.documents.credit_note_document import CreditNoteView
from tallybook.documents.pdf_layout import INK, LINE_H, MUTED, SMALL_H, Writer


def render_credit_note_pdf(view: CreditNoteView, *, locale: str = "en_US") -> bytes:
    """The PDF of ``view`` (bytes, A4)."""
    w = layout.open_document(
        title=view.title,
        issuer=view.issuer.name,
        currency=view.currency,
        locale=locale,
        texts=repr(view),
    )
    layout.header(w, issuer=view.issuer, image=view.logo, title=view.title, badge="Credit note")
    layout.parties(w, view.bill_to, view.facts)
    _lines(w, view)
    rows = [("Subtotal", view.subtotal, False)]
    rows += [(tax.label, tax.amount, False) for tax in view.taxes]
    rows.append((f"Total credited ({view.currency})", view.total, True))
    layout.totals(w, rows, left=0.45, label_share=0.35)
    closing = [(f"Reason: {view.reason}", INK), (f"Refund: {view.refund}", INK)]
    closing += [(line, MUTED) for line in view.footer.split("\n") if line]
    layout.closing(w, closing, ink_size=9, height=SMALL_H + 0.5)
    return bytes(w.pdf.output())


def _lines(w: Writer, view: CreditNoteView) -> None:
    pdf = w.pdf
    desc_w, amount_w = w.width * 0.75, w.width * 0.25
    w.style(9, bold=True, color=MUTED)
    title = f"Credited lines of invoice {view.invoice_number}".upper()
    pdf.cell(w.width, 5, w.text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    w.style(8, bold=True, color=MUTED)
    pdf.cell(desc_w, LINE_H, "Description")
    pdf.cell(amount_w, LINE_H, "Credited", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    w.rule(INK, 0.3)
    for line in view.lines:
        subs = [s for s in (line.period, line.tax) if s]
        w.ensure_room(LINE_H * 2 + len(subs) * SMALL_H + 2)
        y = pdf.get_y() + 1
        pdf.set_y(y)
        w.style(9)
        pdf.multi_cell(desc_w - 2, LINE_H, w.text(line.description), align="L", new_x=XPos.LMARGIN)
        w.style(8, color=MUTED)
        for sub in subs:
            pdf.multi_cell(desc_w - 2, SMALL_H, w.text(sub), align="L", new_x=XPos.LMARGIN)
        bottom = pdf.get_y()
        pdf.set_xy(pdf.l_margin + desc_w, y)
        w.style(9)
        pdf.cell(amount_w, LINE_H, w.text(line.amount), align="R")
        pdf.set_y(max(bottom, y + LINE_H))
        pdf.ln(1)
        w.rule()

"""The PDF credit note (fpdf2, A4): the same content as its HTML page, drawn with the
invoice PDF's fonts, colours and helpers (``documents.invoice_pdf``): DejaVu Sans and
IPAGothic embedded, so names in any script and every currency symbol print; the seller's
logo at the top left when the invoice's parties name one."""

from __future__ import annotations

from fpdf.enums import XPos, YPos

from tallybook.documents.credit_note_document import CreditNoteView
from tallybook.documents.invoice_pdf import (
    ACCENT,
    INK,
    LINE_H,
    MUTED,
    SMALL_H,
    _Document,
    _logo,
    _symbols,
    _Writer,
    embed_fonts,
    latin,
)


def render_credit_note_pdf(view: CreditNoteView, *, locale: str = "en_US") -> bytes:
    """The PDF of ``view`` (bytes, A4)."""
    pdf = _Document(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False, margin=16)
    pdf.set_margins(16, 16, 16)
    unicode = embed_fonts(pdf, repr(view))
    pdf.set_title(view.title if unicode else latin(view.title))
    pdf.set_author(view.issuer.name if unicode else latin(view.issuer.name))
    pdf.set_creator("Tallybook")
    w = _Writer(pdf, _symbols(view.currency, locale), unicode)
    pdf.footer_text = w.text(f"{view.issuer.name} - {view.title}")
    pdf.add_page()
    _header(w, view)
    _parties(w, view)
    _lines(w, view)
    _totals(w, view)
    _closing(w, view)
    return bytes(pdf.output())


def _header(w: _Writer, view: CreditNoteView) -> None:
    _logo(w, view.logo)
    pdf, top = w.pdf, w.pdf.get_y()
    w.style(16, bold=True)
    pdf.multi_cell(w.width * 0.55, 7, w.text(view.issuer.name), align="L", new_x=XPos.LMARGIN)
    w.style(9, color=MUTED)
    for row in view.issuer.detail:
        pdf.cell(w.width * 0.55, SMALL_H, w.text(row), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + w.width * 0.45, top)
    w.style(16, bold=True)
    pdf.cell(w.width * 0.55, 7, w.text(view.title), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_x(pdf.l_margin + w.width * 0.45)
    w.style(9, bold=True, color=ACCENT)
    pdf.cell(w.width * 0.55, 5, "CREDIT NOTE", align="R", new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 3)
    w.rule(INK, 0.5)
    pdf.ln(5)


def _parties(w: _Writer, view: CreditNoteView) -> None:
    pdf, top, half = w.pdf, w.pdf.get_y(), w.width / 2
    w.style(8, bold=True, color=MUTED)
    pdf.cell(half, SMALL_H, "BILL TO", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    w.style(10, bold=True)
    pdf.multi_cell(half, LINE_H, w.text(view.bill_to.name), align="L", new_x=XPos.LMARGIN)
    w.style(9, color=MUTED)
    for row in view.bill_to.detail:
        pdf.cell(half, SMALL_H, w.text(row), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()
    pdf.set_y(top)
    for label, value in view.facts:
        pdf.set_x(pdf.l_margin + half)
        w.style(9, color=MUTED)
        pdf.cell(half * 0.4, LINE_H, label)
        w.style(9)
        pdf.cell(half * 0.6, LINE_H, w.text(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 4)


def _lines(w: _Writer, view: CreditNoteView) -> None:
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


def _totals(w: _Writer, view: CreditNoteView) -> None:
    rows = [("Subtotal", view.subtotal, False)]
    rows += [(tax.label, tax.amount, False) for tax in view.taxes]
    rows.append((f"Total credited ({view.currency})", view.total, True))
    w.ensure_room(len(rows) * 7 + 10)
    w.pdf.ln(5)
    left, label_w, value_w = w.width * 0.45, w.width * 0.35, w.width * 0.2
    for label, value, grand in rows:
        if grand:
            w.rule(INK, 0.5, start=left)
            w.pdf.ln(1)
        w.style(12 if grand else 10, bold=grand)
        w.pdf.set_x(w.pdf.l_margin + left)
        w.pdf.cell(label_w, 7 if grand else 6, w.text(label))
        w.pdf.cell(
            value_w, 7 if grand else 6, w.text(value), align="R",
            new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )  # fmt: skip


def _closing(w: _Writer, view: CreditNoteView) -> None:
    rows = [(f"Reason: {view.reason}", INK), (f"Refund: {view.refund}", INK)]
    rows += [(line, MUTED) for line in view.footer.split("\n") if line]
    w.ensure_room(len(rows) * SMALL_H + 8)
    w.pdf.ln(4)
    for text, color in rows:
        w.style(9 if color == INK else 8, color=color)
        w.pdf.multi_cell(w.width, SMALL_H + 0.5, w.text(text), align="L", new_x=XPos.LMARGIN)

"""The PDF invoice (fpdf2, A4): the same content as the HTML page, drawn with the layout
every PDF document shares (``documents.pdf_layout``: fonts and the Latin-1 fallback,
colours, the seller's logo and header, the parties, totals and closing blocks); the
sections of priced lines, their tiers and the draft/preview note are its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from fpdf.enums import XPos, YPos

from tallybook.documents import pdf_layout as layout
from tallybook.documents.invoice_view import InvoiceView, LineView, SectionView
from tallybook.documents.pdf_layout import INK, LINE_H, MUTED, SMALL_H, Writer

COLUMNS = (0.52, 0.14, 0.16, 0.18)  # description, quantity, unit price, amount


def render_invoice_pdf(view: InvoiceView, *, locale: str = "en_US") -> bytes:
    """The PDF of ``view`` (bytes, A4)."""
    writer = layout.open_document(
        title=view.title,
        issuer=view.issuer.name,
        currency=view.currency,
        locale=locale,
        texts=repr(view) + _texts(view),
    )
    layout.header(
        writer, issuer=view.issuer, image=view.logo, title=view.title, badge=view.status_label
    )
    layout.parties(writer, view.bill_to, (("Billing period", view.period), *view.facts))
    for group in view.groups:
        if group.heading:
            _child_heading(writer, group.heading)
        for section in group.sections:
            _section(writer, section)
    _totals(writer, view)
    rows = [(view.tax_note, INK)] if view.tax_note else []
    rows += [(f"Credit note {note}", INK) for note in view.notes]
    rows += [(line, MUTED) for line in view.footer.split("\n") if line]
    layout.closing(writer, rows)
    return bytes(writer.pdf.output())


def _texts(view: InvoiceView) -> str:
    """Every text of the view, to see which glyphs the PDF needs."""
    parts = [view.title, view.issuer.name, *view.issuer.detail, view.bill_to.name]
    parts += [*view.bill_to.detail, view.tax_note, view.footer, *view.notes]
    for group in view.groups:
        parts.append(group.heading or "")
        for section in group.sections:
            parts += [line.description + line.tax + line.note for line in section.lines]
    return "".join(parts)


def _child_heading(w: Writer, heading: str) -> None:
    w.ensure_room(20)
    w.pdf.ln(3)
    w.pdf.set_fill_color(238, 241, 248)
    w.style(11, bold=True)
    w.pdf.cell(
        w.width,
        7,
        w.text(f"  Billed for {heading}"),
        fill=True,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    w.pdf.ln(1)


def _section(w: Writer, section: SectionView) -> None:
    w.ensure_room(24)
    w.pdf.ln(3)
    w.style(9, bold=True, color=MUTED)
    w.pdf.cell(w.width, 5, w.text(section.title.upper()), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _column_heads(w)
    for line in section.lines:
        _line(w, line)
    if len(section.lines) > 1:
        w.ensure_room(LINE_H + 2)
        w.style(9, bold=True)
        widths = _widths(w)
        w.pdf.cell(sum(widths[:3]), LINE_H + 1, w.text(f"{section.title} total"), align="R")
        w.pdf.cell(
            widths[3],
            LINE_H + 1,
            w.text(section.total),
            align="R",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )


def _widths(w: Writer) -> list[float]:
    return [w.width * share for share in COLUMNS]


def _column_heads(w: Writer) -> None:
    w.style(8, bold=True, color=MUTED)
    heads = ("Description", "Quantity", "Unit price", "Amount")
    for width, head, align in zip(_widths(w), heads, "LRRR", strict=True):
        w.pdf.cell(width, LINE_H, head, align=align)
    w.pdf.ln(LINE_H)
    w.rule(INK, 0.3)


def _line_height(w: Writer, line: LineView, width: float, subs: list[str]) -> float:
    w.style(9)
    rows = w.pdf.multi_cell(
        width, LINE_H, w.text(line.description), align="L", dry_run=True, output="LINES"
    )
    count = len(rows) if isinstance(rows, list) else 1
    return count * LINE_H + len(subs) * SMALL_H + 2 + len(line.tiers) * SMALL_H


def _line(w: Writer, line: LineView) -> None:
    widths = _widths(w)
    text_w = widths[0] - 2
    subs = [s for s in (line.period, line.note, line.tax) if s]
    if w.ensure_room(_line_height(w, line, text_w, subs)):
        _column_heads(w)
    x, y = w.pdf.get_x(), w.pdf.get_y() + 1
    w.pdf.set_xy(x, y)
    w.style(9)
    w.pdf.multi_cell(text_w, LINE_H, w.text(line.description), align="L", new_x=XPos.LMARGIN)
    w.style(8, color=MUTED)
    for sub in subs:
        w.pdf.multi_cell(text_w, SMALL_H, w.text(sub), align="L", new_x=XPos.LMARGIN)
    bottom = w.pdf.get_y()
    w.pdf.set_xy(x + widths[0], y)
    w.style(9)
    _numbers(w, widths[1:], (line.quantity, line.unit_price, line.amount), LINE_H)
    w.pdf.set_y(max(bottom, y + LINE_H))
    _tiers(w, line, widths)
    w.pdf.ln(1)
    w.rule()


def _numbers(w: Writer, widths: Sequence[float], values: Sequence[str], height: float) -> None:
    for width, value in zip(widths, values, strict=True):
        w.pdf.cell(width, height, w.text(value), align="R")


def _tiers(w: Writer, line: LineView, widths: list[float]) -> None:
    w.style(8, color=MUTED)
    for tier in line.tiers:
        label = f"{tier.label}" + (f" + {tier.flat} flat" if tier.flat else "")
        w.pdf.set_x(w.pdf.l_margin + 5)
        w.pdf.cell(widths[0] - 5, SMALL_H, w.text(label))
        _numbers(w, widths[1:], (tier.units, tier.unit_price, tier.amount), SMALL_H)
        w.pdf.ln(SMALL_H)


def _totals(w: Writer, view: InvoiceView) -> None:
    rows = [("Subtotal", view.subtotal, False)]
    if view.has_discounts:
        rows.append(("Discounts", f"-{view.discounts}", False))
    if view.has_credits:
        rows.append(("Credits applied", f"-{view.credits_applied}", False))
    rows += [(tax.label, tax.amount, False) for tax in view.taxes]
    rows.append((f"Total due ({view.currency})", view.total, True))
    layout.totals(w, rows, left=0.5, label_share=0.3)
    if view.status in ("draft", "preview"):
        w.pdf.ln(4)
        w.style(8, color=(138, 90, 0))
        note = "Draft: this invoice may still change until it is finalized."
        if view.status == "preview":
            note = "Preview of the current period as if it closed now."
        w.pdf.cell(w.width, SMALL_H, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

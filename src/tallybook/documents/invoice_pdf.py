"""The PDF invoice (fpdf2, A4): the same content as the HTML page.

Text is drawn in DejaVu Sans, embedded from Debian's ``fonts-dejavu-core``, with IPAGothic
(``fonts-ipafont-gothic``) as a fallback for Japanese and other CJK text
(``documents.fonts``): names in any of these scripts and every currency symbol print.
Where DejaVu is not installed the core Helvetica font is used and text is folded to
Latin-1: typographic dashes and spaces become plain ones, a currency symbol outside
Latin-1 is written as its ISO code, and any other character becomes "?".
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from babel.numbers import get_currency_symbol
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from tallybook.documents import fonts
from tallybook.documents.invoice_view import InvoiceView, LineView, SectionView
from tallybook.domain.finance.logos import Logo

FONT = "Helvetica"
UNICODE_FONT, CJK_FONT = "DejaVu", "IPAGothic"
INK = (29, 35, 48)
MUTED = (91, 100, 117)
RULE = (217, 221, 229)
ACCENT = (47, 91, 211)
COLUMNS = (0.52, 0.14, 0.16, 0.18)  # description, quantity, unit price, amount
LINE_H = 5.0
SMALL_H = 4.2
FOLD = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2009": " ",
        "\u202f": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2192": "->",
    }
)


def latin(text: str, symbols: dict[str, str] | None = None) -> str:
    """``text`` folded to what the core fonts can draw."""
    for symbol, code in (symbols or {}).items():
        text = text.replace(symbol, code)
    return text.translate(FOLD).encode("latin-1", "replace").decode("latin-1")


def _symbols(currency: str, locale: str) -> dict[str, str]:
    symbol = str(get_currency_symbol(currency, locale=locale))
    try:
        symbol.encode("latin-1")
    except UnicodeEncodeError:
        return {symbol: f"{currency}\u00a0" if len(symbol) == 1 else currency}
    return {}


class _Document(FPDF):
    footer_text = ""
    font_name = FONT

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.font_name, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.footer_text}  -  page {self.page_no()}/{{nb}}", align="C")


@dataclass
class _Writer:
    pdf: _Document
    symbols: dict[str, str]
    unicode: bool = False

    @property
    def width(self) -> float:
        return float(self.pdf.epw)

    def text(self, value: str) -> str:
        return value if self.unicode else latin(value, self.symbols)

    def style(self, size: float, *, bold: bool = False, color: tuple[int, int, int] = INK) -> None:
        self.pdf.set_font(self.pdf.font_name, style="B" if bold else "", size=size)
        self.pdf.set_text_color(*color)

    def rule(
        self, color: tuple[int, int, int] = RULE, width: float = 0.2, start: float = 0.0
    ) -> None:
        """A horizontal line at the current height, from ``start`` (mm into the text) on."""
        self.pdf.set_draw_color(*color)
        self.pdf.set_line_width(width)
        y = self.pdf.get_y()
        self.pdf.line(self.pdf.l_margin + start, y, self.pdf.l_margin + self.width, y)

    def ensure_room(self, height: float) -> bool:
        """Start a new page if ``height`` does not fit; True when it did."""
        if self.pdf.get_y() + height <= self.pdf.page_break_trigger:
            return False
        self.pdf.add_page()
        return True


def render_invoice_pdf(view: InvoiceView, *, locale: str = "en_US") -> bytes:
    pdf = _Document(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False, margin=16)
    pdf.set_margins(16, 16, 16)
    unicode = _embed_fonts(pdf, view)
    pdf.set_title(view.title if unicode else latin(view.title))
    pdf.set_author(view.issuer.name if unicode else latin(view.issuer.name))
    pdf.set_creator("Tallybook")
    writer = _Writer(pdf, _symbols(view.currency, locale), unicode)
    pdf.footer_text = writer.text(f"{view.issuer.name} - {view.title}")
    pdf.add_page()
    _header(writer, view)
    _parties(writer, view)
    for group in view.groups:
        if group.heading:
            _child_heading(writer, group.heading)
        for section in group.sections:
            _section(writer, section)
    _totals(writer, view)
    _closing(writer, view)
    return bytes(pdf.output())


def _texts(view: InvoiceView) -> str:
    """Every text of the view, to see which glyphs the PDF needs."""
    parts = [view.title, view.issuer.name, *view.issuer.detail, view.bill_to.name]
    parts += [*view.bill_to.detail, view.tax_note, view.footer, *view.notes]
    for group in view.groups:
        parts.append(group.heading or "")
        for section in group.sections:
            parts += [line.description + line.tax + line.note for line in section.lines]
    return "".join(parts)


# Loaded from each font whatever the document: ASCII, Latin-1, general punctuation and the
# currency symbols; the document's own characters are added (``_embed_fonts``).
BASE_RANGE: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E),
    (0xA0, 0xFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2190, 0x2193),
    (0x2212, 0x2212),
)


def _embed_fonts(pdf: _Document, view: InvoiceView) -> bool:
    """``embed_fonts`` for the texts of an invoice view."""
    return embed_fonts(pdf, repr(view) + _texts(view))


def embed_fonts(pdf: _Document, texts: str) -> bool:
    """Register DejaVu (and IPAGothic when a character of ``texts`` needs it); False when
    DejaVu is not installed (core fonts then). Only the characters the document can use
    are loaded from each font (``unicode_range``): reading a whole CJK font's metrics
    takes seconds."""
    found = fonts.fonts()
    if found.regular is None or found.bold is None:
        return False
    used = {ord(ch) for ch in texts}
    wanted: list[int | tuple[int, int]] = [*BASE_RANGE, *sorted(used)]
    pdf.add_font(UNICODE_FONT, "", str(found.regular), unicode_range=wanted)
    pdf.add_font(UNICODE_FONT, "B", str(found.bold), unicode_range=wanted)
    pdf.font_name = UNICODE_FONT
    if found.cjk is not None:
        have = fonts.covered(found.regular)
        missing = sorted(c for c in used if c not in have and not chr(c).isspace())
        if missing:
            pdf.add_font(CJK_FONT, "", str(found.cjk), unicode_range=missing)
            pdf.set_fallback_fonts([CJK_FONT], exact_match=False)
    return True


def _closing(w: _Writer, view: InvoiceView) -> None:
    """The tax note, the credit notes and the seller's footer, after the totals."""
    rows = [(view.tax_note, INK)] if view.tax_note else []
    rows += [(f"Credit note {note}", INK) for note in view.notes]
    rows += [(line, MUTED) for line in view.footer.split("\n") if line]
    if not rows:
        return
    w.ensure_room(len(rows) * SMALL_H + 8)
    w.pdf.ln(4)
    for text, color in rows:
        w.style(8, color=color)
        w.pdf.multi_cell(w.width, SMALL_H, w.text(text), align="L", new_x=XPos.LMARGIN)


LOGO_MAX_H, LOGO_MAX_W = 16.0, 60.0  # mm


def _logo(w: _Writer, logo: Logo | None) -> None:
    """The seller's logo (the bytes stored at upload, embedded), top left, at most
    60 x 16 mm with its aspect kept; the text starts below it."""
    if logo is None or not logo.width or not logo.height:
        return
    height = min(LOGO_MAX_H, LOGO_MAX_W * logo.height / logo.width)
    width = height * logo.width / logo.height
    top = w.pdf.get_y()
    w.pdf.image(io.BytesIO(logo.data), x=w.pdf.l_margin, y=top, w=width, h=height)
    w.pdf.set_y(top + height + 2)


def _header(w: _Writer, view: InvoiceView) -> None:
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
    pdf.cell(w.width * 0.55, 5, view.status_label.upper(), align="R", new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 3)
    w.rule(INK, 0.5)
    pdf.ln(5)


def _parties(w: _Writer, view: InvoiceView) -> None:
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
    for label, value in (("Billing period", view.period), *view.facts):
        pdf.set_x(pdf.l_margin + half)
        w.style(9, color=MUTED)
        pdf.cell(half * 0.4, LINE_H, label)
        w.style(9)
        pdf.cell(half * 0.6, LINE_H, w.text(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 4)


def _child_heading(w: _Writer, heading: str) -> None:
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


def _section(w: _Writer, section: SectionView) -> None:
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


def _widths(w: _Writer) -> list[float]:
    return [w.width * share for share in COLUMNS]


def _column_heads(w: _Writer) -> None:
    w.style(8, bold=True, color=MUTED)
    heads = ("Description", "Quantity", "Unit price", "Amount")
    for width, head, align in zip(_widths(w), heads, "LRRR", strict=True):
        w.pdf.cell(width, LINE_H, head, align=align)
    w.pdf.ln(LINE_H)
    w.rule(INK, 0.3)


def _line_height(w: _Writer, line: LineView, width: float, subs: list[str]) -> float:
    w.style(9)
    rows = w.pdf.multi_cell(
        width, LINE_H, w.text(line.description), align="L", dry_run=True, output="LINES"
    )
    count = len(rows) if isinstance(rows, list) else 1
    return count * LINE_H + len(subs) * SMALL_H + 2 + len(line.tiers) * SMALL_H


def _line(w: _Writer, line: LineView) -> None:
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


def _numbers(w: _Writer, widths: Sequence[float], values: Sequence[str], height: float) -> None:
    for width, value in zip(widths, values, strict=True):
        w.pdf.cell(width, height, w.text(value), align="R")


def _tiers(w: _Writer, line: LineView, widths: list[float]) -> None:
    w.style(8, color=MUTED)
    for tier in line.tiers:
        label = f"{tier.label}" + (f" + {tier.flat} flat" if tier.flat else "")
        w.pdf.set_x(w.pdf.l_margin + 5)
        w.pdf.cell(widths[0] - 5, SMALL_H, w.text(label))
        _numbers(w, widths[1:], (tier.units, tier.unit_price, tier.amount), SMALL_H)
        w.pdf.ln(SMALL_H)


def _totals(w: _Writer, view: InvoiceView) -> None:
    rows = [("Subtotal", view.subtotal, False)]
    if view.has_discounts:
        rows.append(("Discounts", f"-{view.discounts}", False))
    if view.has_credits:
        rows.append(("Credits applied", f"-{view.credits_applied}", False))
    rows += [(tax.label, tax.amount, False) for tax in view.taxes]
    rows.append((f"Total due ({view.currency})", view.total, True))
    w.ensure_room(len(rows) * 7 + 10)
    w.pdf.ln(5)
    left, label_w, value_w = w.width * 0.5, w.width * 0.3, w.width * 0.2
    for label, value, grand in rows:
        if grand:
            w.rule(INK, 0.5, start=left)
            w.pdf.ln(1)
        w.style(12 if grand else 10, bold=grand)
        w.pdf.set_x(w.pdf.l_margin + left)
        w.pdf.cell(label_w, 7 if grand else 6, w.text(label))
        w.pdf.cell(
            value_w,
            7 if grand else 6,
            w.text(value),
            align="R",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    if view.status in ("draft", "preview"):
        w.pdf.ln(4)
        w.style(8, color=(138, 90, 0))
        note = "Draft: this invoice may still change until it is finalized."
        if view.status == "preview":
            note = "Preview of the current period as if it closed now."
        w.pdf.cell(w.width, SMALL_H, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

"""The page layout every PDF document shares (fpdf2, A4): fonts, colours, the text
writer, and the blocks an invoice and a credit note draw alike — the seller's logo and
name with the document's title and badge, the bill-to party beside the facts, the totals
column and the closing notes. ``documents.invoice_pdf`` and ``documents.credit_note_pdf``
draw only their own lines with it.

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
from tallybook.documents.invoice_view import Party
from tallybook.domain.finance.logos import Logo

FONT = "Helvetica"
UNICODE_FONT, CJK_FONT = "DejaVu", "IPAGothic"
INK = (29, 35, 48)
MUTED = (91, 100, 117)
RULE = (217, 221, 229)
ACCENT = (47, 91, 211)
LINE_H = 5.0
SMALL_H = 4.2
LOGO_MAX_H, LOGO_MAX_W = 16.0, 60.0  # mm
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

# Loaded from each font whatever the document: ASCII, Latin-1, general punctuation and the
# currency symbols; the document's own characters are added (``embed_fonts``).
BASE_RANGE: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E),
    (0xA0, 0xFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2190, 0x2193),
    (0x2212, 0x2212),
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


class Document(FPDF):
    """An A4 page set whose footer reads ``footer_text - page n/N`` in ``font_name``."""

    footer_text = ""
    font_name = FONT

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.font_name, size=8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.footer_text}  -  page {self.page_no()}/{{nb}}", align="C")


@dataclass
class Writer:
    """Draws text on ``pdf``: folded to Latin-1 (currency ``symbols`` as ISO codes) unless
    the ``unicode`` fonts are embedded; sizes in points, lengths in mm."""

    pdf: Document
    symbols: dict[str, str]
    unicode: bool = False

    @property
    def width(self) -> float:
        """The width between the margins (mm)."""
        return float(self.pdf.epw)

    def text(self, value: str) -> str:
        """``value`` as the document's fonts can draw it."""
        return value if self.unicode else latin(value, self.symbols)

    def style(self, size: float, *, bold: bool = False, color: tuple[int, int, int] = INK) -> None:
        """Set the font size (pt), weight and colour for the next cells."""
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


def open_document(*, title: str, issuer: str, currency: str, locale: str, texts: str) -> Writer:
    """A new A4 document titled ``title`` by ``issuer``, its fonts chosen for ``texts``
    (every text it will draw) and its amounts in ``currency`` as ``locale`` writes them;
    the first page is added."""
    pdf = Document(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False, margin=16)
    pdf.set_margins(16, 16, 16)
    unicode = embed_fonts(pdf, texts)
    pdf.set_title(title if unicode else latin(title))
    pdf.set_author(issuer if unicode else latin(issuer))
    pdf.set_creator("Tallybook")
    writer = Writer(pdf, _symbols(currency, locale), unicode)
    pdf.footer_text = writer.text(f"{issuer} - {title}")
    pdf.add_page()
    return writer


def embed_fonts(pdf: Document, texts: str) -> bool:
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


def logo(w: Writer, image: Logo | None) -> None:
    """The seller's logo (the bytes stored at upload, embedded), top left, at most
    60 x 16 mm with its aspect kept; the text starts below it."""
    if image is None or not image.width or not image.height:
        return
    height = min(LOGO_MAX_H, LOGO_MAX_W * image.height / image.width)
    width = height * image.width / image.height
    top = w.pdf.get_y()
    w.pdf.image(io.BytesIO(image.data), x=w.pdf.l_margin, y=top, w=width, h=height)
    w.pdf.set_y(top + height + 2)


def header(w: Writer, *, issuer: Party, image: Logo | None, title: str, badge: str) -> None:
    """The logo, the seller's name and details on the left; the document's ``title`` and
    its ``badge`` (drawn upper case, in the accent colour) on the right; a rule below."""
    logo(w, image)
    pdf, top = w.pdf, w.pdf.get_y()
    w.style(16, bold=True)
    pdf.multi_cell(w.width * 0.55, 7, w.text(issuer.name), align="L", new_x=XPos.LMARGIN)
    w.style(9, color=MUTED)
    for row in issuer.detail:
        pdf.cell(w.width * 0.55, SMALL_H, w.text(row), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + w.width * 0.45, top)
    w.style(16, bold=True)
    pdf.cell(w.width * 0.55, 7, w.text(title), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_x(pdf.l_margin + w.width * 0.45)
    w.style(9, bold=True, color=ACCENT)
    pdf.cell(w.width * 0.55, 5, badge.upper(), align="R", new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 3)
    w.rule(INK, 0.5)
    pdf.ln(5)


def parties(w: Writer, bill_to: Party, facts: Sequence[tuple[str, str]]) -> None:
    """ "Bill to" and the customer on the left half; the ``(label, value)`` facts on the
    right half."""
    pdf, top, half = w.pdf, w.pdf.get_y(), w.width / 2
    w.style(8, bold=True, color=MUTED)
    pdf.cell(half, SMALL_H, "BILL TO", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    w.style(10, bold=True)
    pdf.multi_cell(half, LINE_H, w.text(bill_to.name), align="L", new_x=XPos.LMARGIN)
    w.style(9, color=MUTED)
    for row in bill_to.detail:
        pdf.cell(half, SMALL_H, w.text(row), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    left_bottom = pdf.get_y()
    pdf.set_y(top)
    for label, value in facts:
        pdf.set_x(pdf.l_margin + half)
        w.style(9, color=MUTED)
        pdf.cell(half * 0.4, LINE_H, label)
        w.style(9)
        pdf.cell(half * 0.6, LINE_H, w.text(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 4)


def totals(
    w: Writer, rows: Sequence[tuple[str, str, bool]], *, left: float, label_share: float
) -> None:
    """The ``(label, amount, grand)`` rows right-aligned from ``left`` (a share of the
    width); the label takes ``label_share`` of the width, the amount a fifth; the grand
    row is larger, bold and ruled above."""
    w.ensure_room(len(rows) * 7 + 10)
    w.pdf.ln(5)
    start, label_w, value_w = w.width * left, w.width * label_share, w.width * 0.2
    for label, value, grand in rows:
        if grand:
            w.rule(INK, 0.5, start=start)
            w.pdf.ln(1)
        w.style(12 if grand else 10, bold=grand)
        w.pdf.set_x(w.pdf.l_margin + start)
        w.pdf.cell(label_w, 7 if grand else 6, w.text(label))
        w.pdf.cell(
            value_w, 7 if grand else 6, w.text(value), align="R",
            new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )  # fmt: skip


def closing(
    w: Writer,
    rows: Sequence[tuple[str, tuple[int, int, int]]],
    *,
    ink_size: float = 8,
    height: float = SMALL_H,
) -> None:
    """The closing ``(text, colour)`` rows under the totals, ``height`` mm a row: INK
    rows at ``ink_size`` points, the others (the seller's footer) at 8; nothing without
    rows."""
    if not rows:
        return
    w.ensure_room(len(rows) * SMALL_H + 8)
    w.pdf.ln(4)
    for text, color in rows:
        w.style(ink_size if color == INK else 8, color=color)
        w.pdf.multi_cell(w.width, height, w.text(text), align="L", new_x=XPos.LMARGIN)

"""The Unicode fonts embedded in PDF invoices, shipped by Debian packages (not this repo).

- ``fonts-dejavu-core``: DejaVu Sans (regular, bold): Latin, Greek, Cyrillic, currency
  symbols (``€``, ``₹``, ``₽`` ...), Arabic and Hebrew letters.
- ``fonts-ipafont-gothic``: IPAGothic, a fallback for Japanese (kana and kanji) and other
  CJK ideographs; embedded only when the invoice has a character DejaVu lacks.

fpdf2 embeds the subset of glyphs a document uses. Without DejaVu the PDF falls back to
the core Helvetica font, folded to Latin-1 (``pdf_layout.latin``); without IPAGothic,
CJK characters print as missing glyphs. ``TALLYBOOK_PDF_FONT_DIRS`` (``os.pathsep``-
separated) adds directories searched before the Debian ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SEARCH = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/opentype/ipafont-gothic",
    "/usr/share/fonts/truetype",
)
REGULAR, BOLD, CJK = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "ipag.ttf"


@dataclass(frozen=True, slots=True)
class Fonts:
    """Paths of the fonts found (None: not installed)."""

    regular: Path | None
    bold: Path | None
    cjk: Path | None


def _dirs() -> list[Path]:
    extra = [d for d in os.environ.get("TALLYBOOK_PDF_FONT_DIRS", "").split(os.pathsep) if d]
    return [Path(d) for d in (*extra, *SEARCH)]


def _find(name: str) -> Path | None:
    for directory in _dirs():
        path = directory / name
        if path.is_file():
            return path
    return None


@cache
def fonts() -> Fonts:
    """The installed fonts (looked up once per process)."""
    regular, bold = _find(REGULAR), _find(BOLD)
    if regular is None or bold is None:
        regular = bold = None
    return Fonts(regular, bold, _find(CJK))


@cache
def covered(path: Path) -> frozenset[int]:
    """The code points ``path`` has glyphs for (its best cmap)."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fpdf2 dependency

    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())

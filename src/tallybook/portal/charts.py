"""Server-rendered inline SVG charts (no script, no network): bars per day.

``bar_chart`` draws one series of daily values over a whole period: days still to come
are drawn as empty slots so the reader sees how far into the period they are, and each
bar carries a ``<title>`` (a tooltip, and text for screen readers). The chart is an
``role="img"`` with a label; pages also offer the numbers as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_compact_decimal
from markupsafe import Markup, escape

WIDTH = 900
HEIGHT = 220
LEFT = 48
RIGHT = 8
TOP = 10
BOTTOM = 26
STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # x-axis label (day of month)
    title: str  # full tooltip text ("Jan 5, 2026: 4,000")
    value: Decimal | None  # None: the day has not come yet


def nice_ticks(maximum: Decimal, count: int = 4) -> list[Decimal]:
    """``count + 1`` round tick values from 0 covering ``maximum`` (1, 2, 2.5, 5 x 10^n)."""
    if maximum <= 0:
        return [Decimal(i) for i in range(count + 1)]
    raw = maximum / count
    magnitude = Decimal(10) ** raw.adjusted()
    step = next(s * magnitude for s in STEPS if s * magnitude >= raw)
    return [step * i for i in range(count + 1)]


def compact(value: Decimal, locale: str) -> str:
    if abs(value) < 1000:
        return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:.2f}"
    return str(format_compact_decimal(value, locale=locale, fraction_digits=1))


def bar_chart(bars: Sequence[Bar], *, label: str, color: str, locale: str = "en_US") -> Markup:
    """An inline SVG of ``bars`` on one scale, labelled ``label`` for assistive technology."""
    values = [b.value for b in bars if b.value is not None]
    ticks = nice_ticks(max(values, default=Decimal(0)))
    top = ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(label)}</title>",
    ]
    parts += _grid(ticks, top, plot_w, plot_h, locale)
    every = max(1, round(len(bars) / 16))
    for index, bar in enumerate(bars):
        x = LEFT + index * slot
        parts += _bar(bar, x, slot, top, plot_h, color)
        if index % every == 0:
            parts.append(
                f'<text class="x-label" x="{x + slot / 2:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _grid(
    ticks: list[Decimal], top: Decimal, plot_w: float, plot_h: float, locale: str
) -> list[str]:
    parts = []
    for tick in ticks:
        y = TOP + plot_h - float(tick / top) * plot_h if top else TOP + plot_h
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="y-label" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(compact(tick, locale))}</text>"
        )
    return parts


def _bar(bar: Bar, x: float, slot: float, top: Decimal, plot_h: float, color: str) -> list[str]:
    gap = min(3.0, slot * 0.2)
    width = max(slot - 2 * gap, 1.0)
    title = f"<title>{escape(bar.title)}</title>"
    if bar.value is None:
        return [
            f'<rect class="day-future" x="{x + gap:.1f}" y="{TOP + plot_h - 2:.1f}" '
            f'width="{width:.1f}" height="2">{title}</rect>'
        ]
    height = float(bar.value / top) * plot_h if top else 0.0
    height = max(height, 1.0) if bar.value > 0 else 0.0
    return [
        f'<rect class="day" x="{x + gap:.1f}" y="{TOP + plot_h - height:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}" fill="{escape(color)}" rx="1.5">'
        f"{title}</rect>"
    ]

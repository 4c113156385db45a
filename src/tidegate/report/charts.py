"""Charts as inline SVG: drawn here, so the report needs no script or network to show them.

Every mark is a ``<rect class="mark">`` with a ``<title>`` (the browser's tooltip and what
a screen reader says); colours are the Okabe-Ito palette, which colour-blind readers tell
apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
}
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.2f}"


def _ticks(top: float) -> list[float]:
    """Four round steps from zero to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    step = top / 4
    magnitude = 10 ** (len(str(int(step))) - 1) if step >= 1 else 1
    step = max(1, round(step / magnitude)) * magnitude
    return [step * i for i in range(5) if step * (i - 1) < top]


def _legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{s.colour}"></i>{escape(s.name)}</span>'
        for s in series
    )
    return f'<p class="legend">{items}</p>'


def columns(title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "") -> str:
    """Stacked vertical bars, one column per label (a run, a day): a time series."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ticks = _ticks(max(totals, default=0))
    top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    bar = min(max(1.0, slot * 0.7), 48.0)  # a lone run is a bar, not a wall
    parts = [_grid(ticks, top, plot_h, unit)]
    for i, label in enumerate(labels):
        x, base = LEFT + i * slot + (slot - bar) / 2, 0.0
        for s in series:
            value = s.values[i]
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - h
            tip = f"{label}: {s.name} {_number(value)}{unit}"
            parts.append(
                f'<rect class="mark" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{max(h, 0):.1f}" fill="{s.colour}"><title>{escape(tip)}</title></rect>'
            )
            base += value
    parts += _x_labels(labels, slot)
    return _figure(title, parts, series)


def rows(title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "") -> str:
    """Stacked horizontal bars, one row per label (a source, a reason): a ranking."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    height = TOP + 26 * max(len(labels), 1) + 8
    label_w, plot_w = 220, WIDTH - 220 - 80
    parts: list[str] = []
    for i, label in enumerate(labels):
        y, base = TOP + 26 * i, 0.0
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(_short(label, 32))}<title>{escape(label)}</title></text>"
        )
        for s in series:
            value = s.values[i]
            w = plot_w * value / top
            tip = f"{label}: {s.name} {_number(value)}{unit}"
            parts.append(
                f'<rect class="mark" x="{label_w + plot_w * base / top:.1f}" y="{y + 3}" '
                f'width="{max(w, 0):.1f}" height="18" fill="{s.colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            base += value
        parts.append(
            f'<text class="value" x="{label_w + plot_w * base / top + 6:.1f}" y="{y + 15}">'
            f"{escape(_number(totals[i]))}{escape(unit)}</text>"
        )
    return _figure(title, parts, series, height)


def _grid(ticks: list[float], top: float, plot_h: float, unit: str) -> str:
    lines = []
    for tick in ticks:
        y = TOP + plot_h - plot_h * tick / top
        lines.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_number(tick))}{escape(unit)}</text>"
        )
    return "".join(lines)


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    every = max(1, len(labels) // 8)  # at most about eight labels under the axis
    return [
        f'<text class="tick" x="{LEFT + i * slot + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
        f'text-anchor="middle">{escape(_short(label, 14))}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _figure(title: str, parts: list[str], series: Sequence[Series], height: int = HEIGHT) -> str:
    svg = (
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )
    legend = _legend(series) if len(series) > 1 else ""
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}{legend}</figure>"

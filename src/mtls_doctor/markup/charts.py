"""Charts as inline SVG built on the server: no script, no library, prints as drawn.

Each bar carries a ``<title>`` so a browser shows the exact numbers on hover.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from mtls_doctor.knowledge.codes import DOCUMENTED_CODES

# Distinguishable on screen and in greyscale print, one per documented code.
_PALETTE = (
    "#c0392b", "#2471a3", "#d68910", "#7d3c98", "#17a589", "#a04000", "#2e4053",
    "#cb4335", "#1f618d", "#b7950b", "#6c3483", "#148f77", "#873600",
)  # fmt: skip
_OTHER = "#7f8c8d"
_STEPS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_MAX_BUCKETS = 2000


def code_colour(code: str) -> str:
    """The same colour for a code on every chart and legend."""
    if code in DOCUMENTED_CODES:
        return _PALETTE[DOCUMENTED_CODES.index(code) % len(_PALETTE)]
    return _OTHER


def _buckets(series: Mapping[str, Sequence[tuple[datetime, int]]], unit: str) -> list[datetime]:
    starts = sorted({t for points in series.values() for t, _ in points})
    if not starts:
        return []
    step = _STEPS.get(unit)
    if step is None or (starts[-1] - starts[0]) / step > _MAX_BUCKETS:
        return starts
    # Empty buckets are drawn as gaps, so that a quiet hour looks quiet.
    out, at = [], starts[0]
    while at <= starts[-1]:
        out.append(at)
        at += step
    return out


def legend(codes: Sequence[str]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{code_colour(c)}"></span>{html.escape(c)}</li>'
        for c in codes
    )
    return f'<ul class="legend">{items}</ul>'


def stacked_timeline(
    series: Mapping[str, Sequence[tuple[datetime, int]]],
    unit: str,
    *,
    width: int = 1000,
    height: int = 240,
    title: str = "Failures over time by code",
) -> str:
    """Bars per time bucket, one coloured segment per code (codes stacked in given order)."""
    buckets = _buckets(series, unit)
    if not buckets:
        return '<p class="empty">No failures to draw.</p>'
    counts = {code: dict(points) for code, points in series.items()}
    totals = [sum(c.get(b, 0) for c in counts.values()) for b in buckets]
    peak = max(totals) or 1
    left, bottom, top = 48, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    slot = plot_w / len(buckets)
    bar_w = max(slot * 0.85, 0.6)
    parts = [
        f'<svg class="chart timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{html.escape(title)}</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, bucket in enumerate(buckets):
        x = left + index * slot
        y: float = top + plot_h
        for code, by_bucket in counts.items():
            n = by_bucket.get(bucket, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            label = f"{bucket:%Y-%m-%d %H:%M}Z {code}: {n}"
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" '
                f'fill="{code_colour(code)}" data-code="{html.escape(code)}">'
                f"<title>{html.escape(label)}</title></rect>"
            )
    parts += _x_labels(buckets, unit, left, slot, top + plot_h + 16)
    parts.append("</svg>")
    return "".join(parts) + legend(list(series))


def _x_labels(
    buckets: Sequence[datetime], unit: str, left: float, slot: float, y: float
) -> list[str]:
    fmt = "%m-%d" if unit == "day" else "%m-%d %H:%M"
    ticks = min(len(buckets), 6)
    out = []
    for k in range(ticks):
        index = round(k * (len(buckets) - 1) / max(ticks - 1, 1))
        x = left + index * slot + slot / 2
        anchor = (
            "start"
            if k == 0 and ticks > 1
            else ("end" if k == ticks - 1 and ticks > 1 else "middle")
        )
        out.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11">'
            f"{buckets[index]:{fmt}}</text>"
        )
    return out


def horizontal_bars(
    items: Sequence[tuple[str, int]], *, title: str, colour_by_code: bool = True, width: int = 640
) -> str:
    """One bar per (label, count), longest first as given."""
    if not items:
        return '<p class="empty">Nothing to draw.</p>'
    row_h, label_w = 22, 250
    height = row_h * len(items) + 8
    peak = max(n for _, n in items) or 1
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{html.escape(title)}</title>",
    ]
    for index, (label, n) in enumerate(items):
        y = 4 + index * row_h
        w = max((width - label_w - 60) * n / peak, 1)
        colour = code_colour(label) if colour_by_code else "#2456a6"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{html.escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="{colour}"><title>{html.escape(label)}: {n}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" font-size="12">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)

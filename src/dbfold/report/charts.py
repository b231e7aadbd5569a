"""Small inline SVG bar charts: where a chart says it faster than a table.

Plain horizontal bars with their numbers written beside them, so a chart reads without a
legend and prints in black and white. Values are given, never computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

LABEL_W = 210
BAR_W = 460
NUM_W = 130
ROW_H = 22
BAR_H = 14


def _short(text: str, width: int = 30) -> str:
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def stacked_bars(
    chart_id: str,
    bars: Sequence[tuple[str, Sequence[tuple[str, int]], str]],
    *,
    title: str,
) -> str:
    """One horizontal bar per row, each made of named segments (e.g. stores by size).

    ``bars``: (label, [(segment name, value)], text written after the bar).
    """
    top = max([1, *(sum(v for _, v in segs) for _, segs, _ in bars)])
    height = len(bars) * (ROW_H + 10) + 10
    width = LABEL_W + BAR_W + NUM_W
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    ]
    for i, (label, segs, text) in enumerate(bars):
        y = 10 + i * (ROW_H + 10)
        out.append(
            f'<text class="chart-label" x="{LABEL_W - 8}" y="{y + BAR_H - 2}" '
            f'text-anchor="end">{escape(_short(label))}</text>'
        )
        x = float(LABEL_W)
        for j, (name, value) in enumerate(segs):
            w = BAR_W * value / top
            out.append(
                f'<rect class="seg seg{j % 8}" x="{x:.1f}" y="{y}" width="{max(w, 0.5):.1f}" '
                f'height="{BAR_H}"><title>{escape(name)}: {escape(text_of(value))}</title></rect>'
            )
            x += w
        out.append(
            f'<text class="chart-num" x="{x + 6:.1f}" y="{y + BAR_H - 2}">{escape(text)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def text_of(value: int) -> str:
    """A bar segment's value as its tooltip says it."""
    from dbfold.units import human_bytes

    return human_bytes(value)


def paired_bars(
    chart_id: str,
    rows: Sequence[tuple[str, int, int]],
    *,
    title: str,
    before: str = "before",
    after: str = "after",
) -> str:
    """Two thin bars per row (before above, after below) with both numbers written out.

    A row whose two values differ is marked, so a reader finds the differences at a glance.
    """
    top = max([1, *(max(b, a) for _, b, a in rows)])
    pair_h = 2 * 8 + 10
    height = 28 + len(rows) * pair_h
    width = LABEL_W + BAR_W + NUM_W
    out = [
        f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>",
        f'<rect class="bar-before" x="{LABEL_W}" y="4" width="12" height="8"/>'
        f'<text class="chart-num" x="{LABEL_W + 16}" y="12">{escape(before)}</text>'
        f'<rect class="bar-after" x="{LABEL_W + 120}" y="4" width="12" height="8"/>'
        f'<text class="chart-num" x="{LABEL_W + 136}" y="12">{escape(after)}</text>',
    ]
    for i, (label, b, a) in enumerate(rows):
        y = 24 + i * pair_h
        differs = " differs" if a != b else ""
        out.append(
            f'<g class="pair{differs}" data-label="{escape(label)}" data-before="{b}" '
            f'data-after="{a}"><text class="chart-label" x="{LABEL_W - 8}" y="{y + 13}" '
            f'text-anchor="end">{escape(_short(label))}</text>'
            f'<rect class="bar-before" x="{LABEL_W}" y="{y}" '
            f'width="{max(BAR_W * b / top, 0.5):.1f}" '
            f'height="8"/><rect class="bar-after" x="{LABEL_W}" y="{y + 9}" '
            f'width="{max(BAR_W * a / top, 0.5):.1f}" height="8"/>'
            f'<text class="chart-num" x="{LABEL_W + BAR_W * max(a, b) / top + 6:.1f}" '
            f'y="{y + 13}">{b:,} → {a:,}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)

"""The ER diagram of the unified schema as inline SVG, laid out to stay readable at 50+ tables.

Tables are grouped by the store their rows come from; a table merged from several stores
sits in a group of its own and lists its sources (and their discriminator values) on its
card. Groups are packed in rows, the tables of a group in a grid. Foreign keys are edges from
the referencing table to the referenced one; foreign keys the plan only suggests are dashed.

Every table is one ``<g class="node" data-table=…>`` and every group one
``<g class="group" data-store=…>``, each with ``data-box="x y w h"``, so the page's script can
zoom to a group (the diagram's pages) or to a table, and tests can count them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from dbfold.design.pg_types import shown_type
from dbfold.pgurl import is_postgres
from dbfold.plan import Plan, PlanTable

NODE_W = 260
HEAD_H = 26
LINE_H = 15
PAD = 9
GAP = 30
GROUP_PAD = 18
GROUP_HEAD = 30
ROW_W = 1900  # row width when there is nothing to pack
MAX_COLUMNS = 9  # column lines on a card; the rest are counted
MAX_SOURCES = 3
CHARS = 36  # characters of 11px monospace (6.6px each) that fit on a card's line
MERGED = "merged from several stores"


@dataclass(frozen=True)
class Box:
    """A rectangle of the diagram."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre."""
        return self.y + self.h / 2

    def attr(self) -> str:
        """``x y w h`` for a ``data-box`` attribute."""
        return f"{self.x:g} {self.y:g} {self.w:g} {self.h:g}"


@dataclass(frozen=True)
class Card:
    """One table's card: its lines and where it sits."""

    table: PlanTable
    group: str
    sources: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (css class, text)
    box: Box


@dataclass(frozen=True)
class Layout:
    """The placed diagram."""

    cards: tuple[Card, ...]
    groups: tuple[tuple[str, Box, int], ...]  # (store, box, tables)
    width: float
    height: float


def group_of(table: PlanTable) -> str:
    """The group a table is drawn in: its one store, or the merged group."""
    stores = list(dict.fromkeys(s.store for s in table.sources))
    if not stores:
        return "(no source)"
    return stores[0] if len(stores) == 1 else MERGED


def _short(text: str, width: int = CHARS) -> str:
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


def _card_lines(
    table: PlanTable, postgres: bool = False
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    sources = []
    for s in table.sources[:MAX_SOURCES]:
        tail = f"{s.table}" + (f"[{s.array}]" if s.array else "")
        if s.discriminator and s.value is not None:
            tail += f" {s.discriminator}={s.value}"
        text = f"← {s.store}:{tail}"
        if len(text) > CHARS:  # the store's folders go first, then the middle
            text = f"← {s.store.rsplit('/', 1)[-1]}:{tail}"
        sources.append(_short(text))
    if len(table.sources) > MAX_SOURCES:
        sources.append(f"… {len(table.sources) - MAX_SOURCES} more sources")
    pk = {c.casefold() for c in table.primary_key}
    fk = {c.casefold() for f in table.foreign_keys for c in f.columns}

    def rank(i: int) -> tuple[int, int]:
        name = table.columns[i].name.casefold()
        return (0 if name in pk else 1 if name in fk else 2, i)

    order = sorted(range(len(table.columns)), key=rank)
    shown = order if len(order) <= MAX_COLUMNS else order[: MAX_COLUMNS - 1]
    columns = []
    for i in shown:
        c = table.columns[i]
        name = c.name.casefold()
        mark, css = (
            ("PK", "col pk") if name in pk else ("FK", "col fk") if name in fk else ("  ", "col")
        )
        columns.append((css, _short(f"{mark} {c.name} {shown_type(c, postgres)}")))
    if len(shown) < len(order):
        columns.append(("col more", f"… {len(order) - len(shown)} more columns"))
    return tuple(sources), tuple(columns)


def _height(sources: int, columns: int) -> float:
    return HEAD_H + PAD / 2 + sources * LINE_H + (6 if sources else 0) + columns * LINE_H + PAD


@dataclass(frozen=True)
class _Member:
    table: PlanTable
    sources: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]

    @property
    def height(self) -> float:
        return _height(len(self.sources), len(self.columns))


def layout(plan: Plan) -> Layout:
    """Place every table: groups in the order their first table appears, packed in rows."""
    groups: dict[str, list[_Member]] = {}
    postgres = is_postgres(plan.target)
    for t in plan.tables:
        groups.setdefault(group_of(t), []).append(_Member(t, *_card_lines(t, postgres)))
    if MERGED in groups:  # the merged tables first: they are what a review looks at
        groups = {MERGED: groups.pop(MERGED), **groups}
    # Each group laid out on its own (positions relative to the group), then packed.
    placed: list[tuple[str, float, float, list[tuple[_Member, float, float]]]] = []
    for store, members in groups.items():
        ncols = min(4, max(1, math.ceil(math.sqrt(len(members)))))
        y = float(GROUP_HEAD)
        items: list[tuple[_Member, float, float]] = []
        for start in range(0, len(members), ncols):
            row = members[start : start + ncols]
            for col, member in enumerate(row):
                items.append((member, GROUP_PAD + col * (NODE_W + GAP), y))
            y += max(m.height for m in row) + GAP
        w = float(2 * GROUP_PAD + ncols * NODE_W + (ncols - 1) * GAP)
        placed.append((store, w, y - GAP + GROUP_PAD, items))
    sizes = [(w, h) for _, w, h, _ in placed]
    origins, width, height = _pack(sizes, _row_width(sizes))
    cards: list[Card] = []
    boxes: list[tuple[str, Box, int]] = []
    for (store, w, h, items), (x, y) in zip(placed, origins, strict=True):
        boxes.append((store, Box(x, y, w, h), len(items)))
        for m, nx, ny in items:
            box = Box(x + nx, y + ny, NODE_W, m.height)
            cards.append(Card(m.table, store, m.sources, m.columns, box))
    return Layout(tuple(cards), tuple(boxes), max(width, 1.0), height)


def _pack(
    sizes: list[tuple[float, float]], limit: float
) -> tuple[list[tuple[float, float]], float, float]:
    """Shelf packing: boxes left to right, a new row when ``limit`` is passed."""
    origins = []
    x = y = row_h = width = 0.0
    for w, h in sizes:
        if x and x + w > limit:
            x, y, row_h = 0.0, y + row_h + GAP * 2, 0.0
        origins.append((x, y))
        width = max(width, x + w)
        x += w + GAP * 2
        row_h = max(row_h, h)
    return origins, width, y + row_h


def _row_width(sizes: list[tuple[float, float]]) -> float:
    """The row width whose packing comes closest to a screen's shape (about 16:10)."""
    if not sizes:
        return float(ROW_W)
    widest = max(w for w, _ in sizes)
    total = sum(w for w, _ in sizes) + GAP * 2 * len(sizes)
    best, best_score = widest, math.inf
    limit = widest
    while limit < total + widest:
        _, w, h = _pack(sizes, limit)
        score = abs(math.log(max(w, 1.0) / max(h, 1.0) / 1.6))
        if score < best_score - 1e-9:
            best, best_score = limit, score
        limit += widest / 4
    return best


def _edge_path(a: Box, b: Box) -> str:
    """A curve from the referencing card ``a`` to the referenced card ``b``."""
    if a == b:  # a table that references itself: a loop on its right side
        x, y = a.x + a.w, a.y + HEAD_H / 2
        return f"M{x:g},{y:g} C{x + 40:g},{y:g} {x + 40:g},{y + 30:g} {x:g},{y + 30:g}"
    if b.x >= a.x + a.w:
        x1, y1, x2, y2 = a.x + a.w, a.cy, b.x, b.cy
    elif b.x + b.w <= a.x:
        x1, y1, x2, y2 = a.x, a.cy, b.x + b.w, b.cy
    else:
        below = b.y > a.y
        x1, y1 = a.cx, a.y + a.h if below else a.y
        x2, y2 = b.cx, b.y if below else b.y + b.h
        bend = max(30.0, abs(y2 - y1) / 3) * (1 if below else -1)
        return f"M{x1:g},{y1:g} C{x1:g},{y1 + bend:g} {x2:g},{y2 - bend:g} {x2:g},{y2:g}"
    bend = max(40.0, abs(x2 - x1) / 3) * (1 if x2 > x1 else -1)
    return f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"


def er_svg(plan: Plan, rows: Mapping[str, int] | None = None) -> str:
    """The diagram as one ``<svg>`` element (no external references)."""
    rows = rows or {}
    placed = layout(plan)
    by_name = {c.table.name: c for c in placed.cards}
    e = escape
    margin = 20
    vb = f"{-margin} {-margin} {placed.width + 2 * margin:g} {placed.height + 2 * margin:g}"
    out = [
        f'<svg id="er" xmlns="http://www.w3.org/2000/svg" viewBox="{vb}" '
        f'data-full="{vb}" data-tables="{len(plan.tables)}" role="img" '
        f'style="aspect-ratio: {placed.width + 2 * margin:g} / {placed.height + 2 * margin:g}" '
        f'aria-label="Entity-relationship diagram of {len(plan.tables)} tables">',
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="arrowhead"/></marker></defs>',
        '<g class="groups">',
    ]
    for store, box, n in placed.groups:
        merged = " merged" if store == MERGED else ""
        out.append(
            f'<g class="group{merged}" data-store="{e(store)}" data-box="{box.attr()}">'
            f'<rect class="group-box" x="{box.x:g}" y="{box.y:g}" width="{box.w:g}" '
            f'height="{box.h:g}" rx="8"/>'
            f'<text class="group-title" x="{box.x + GROUP_PAD:g}" y="{box.y + 20:g}">'
            f"{e(store)} · {n} table{'s' if n != 1 else ''}</text></g>"
        )
    out.append("</g>")
    out.append('<g class="nodes">')
    index = {t.name: i for i, t in enumerate(plan.tables)}  # ids follow the plan's order
    for c in placed.cards:
        out.append(_card_svg(index[c.table.name], c, rows.get(c.table.name)))
    out.append("</g>")
    out.append('<g class="edges">')
    suggested = [
        (s.table, s.columns, s.ref_table, s.ref_columns)
        for s in plan.suggestions
        if s.kind == "foreign_key" and not s.accepted
    ]
    edges = [
        (t.name, f.columns, f.ref_table, f.ref_columns, "")
        for t in plan.tables
        for f in t.foreign_keys
    ]
    edges += [(a, cols, b, refs, " suggested") for a, cols, b, refs in suggested]
    for a, cols, b, refs, css in edges:
        if a not in by_name or b not in by_name:
            continue
        label = f"{a}.{', '.join(cols)} → {b}.{', '.join(refs)}" + (" (suggested)" if css else "")
        out.append(
            f'<path class="edge{css}" data-from="{e(a)}" data-to="{e(b)}" '
            f'd="{_edge_path(by_name[a].box, by_name[b].box)}" marker-end="url(#arrow)">'
            f"<title>{e(label)}</title></path>"
        )
    out.append("</g></svg>")
    return "\n".join(out)


def _card_svg(i: int, card: Card, rows: int | None) -> str:
    e = escape
    t, b = card.table, card.box
    merged = " merged" if len({s.store for s in t.sources}) > 1 else ""
    title = f"{t.name}: {len(t.columns)} columns" + (f", {rows:,} rows" if rows is not None else "")
    title += "".join(f"\n← {s.store}:{s.table}" for s in t.sources)
    parts = [
        f'<g class="node{merged}" id="node-{i}" data-table="{e(t.name)}" '
        f'data-group="{e(card.group)}" data-box="{b.attr()}" '
        f'transform="translate({b.x:g},{b.y:g})"><title>{e(title)}</title>',
        f'<rect class="node-box" width="{b.w:g}" height="{b.h:g}" rx="5"/>',
        f'<rect class="node-head" width="{b.w:g}" height="{HEAD_H}" rx="5"/>',
        f'<text class="node-name" x="{PAD}" y="{HEAD_H - 8}">{e(_short(t.name, 26))}</text>',
    ]
    if rows is not None:
        parts.append(
            f'<text class="node-rows" x="{b.w - PAD:g}" y="{HEAD_H - 8}" '
            f'text-anchor="end">{rows:,}</text>'
        )
    y = HEAD_H + PAD / 2 + LINE_H - 4
    for line in card.sources:
        parts.append(f'<text class="src" x="{PAD}" y="{y:g}">{e(line)}</text>')
        y += LINE_H
    if card.sources:
        sep = y - LINE_H + 6
        parts.append(f'<line class="node-sep" x1="0" x2="{b.w:g}" y1="{sep:g}" y2="{sep:g}"/>')
        y += 6
    for css, line in card.columns:
        parts.append(f'<text class="{css}" x="{PAD}" y="{y:g}">{e(line)}</text>')
        y += LINE_H
    parts.append("</g>")
    return "".join(parts)

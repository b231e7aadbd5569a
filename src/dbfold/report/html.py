"""Render ``.dbfold/report.html``: one self-contained page (inline CSS, JS and SVG).

Sections: the ER diagram, before/after, lineage, verification, the timeline of the cutover,
what to review (decisions, suggestions, exclusions, each with its plan.json path) and every
unified table's columns. Every value is HTML-escaped; the page loads nothing from anywhere.
Figures that tests and people compare carry ``data-figure``/``data-value`` attributes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

from dbfold import __version__
from dbfold.design.pg_types import shown_type
from dbfold.design.render_sql import summary_line
from dbfold.pgurl import is_postgres
from dbfold.report.assets import CSS, JS
from dbfold.report.charts import paired_bars, stacked_bars
from dbfold.report.facts import ReportFacts, stamp_text
from dbfold.report.lineage import Review, lineage, review_items
from dbfold.report.svg import er_svg, layout
from dbfold.report.timeline import timeline_html
from dbfold.units import human_bytes

SECTIONS = (
    ("diagram", "Unified schema"),
    ("before-after", "Before and after"),
    ("lineage", "Lineage"),
    ("verification", "Verification"),
    ("timeline", "Timeline"),
    ("review", "To review"),
    ("tables", "Tables"),
)


@dataclass(frozen=True)
class Figure:
    """One before/after figure: its key, label, value shown, exact value and a sub-line."""

    key: str
    label: str
    shown: str
    value: int | None
    sub: str = ""


def figures(facts: ReportFacts) -> list[Figure]:
    """The before/after figures; after a migration, the migration report's own numbers."""
    a, m = facts.analysis, facts.migration
    stores = [s for s in a.stores] if a is not None else []
    plan_stores = set(facts.plan.stores)
    kinds: dict[str, int] = defaultdict(int)
    for s in stores:
        kinds[s.kind] += 1
    kinds_text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    before_bytes = (
        m.sources_bytes if m is not None else sum(s.bytes for s in stores if s.path in plan_stores)
    )
    out = [
        Figure("stores-before", "Stores before", f"{len(stores):,}", len(stores), kinds_text),
        Figure("stores-after", "Stores after", "1", 1, "one SQLite database"),
        Figure("bytes-before", "Size before", human_bytes(before_bytes), before_bytes, "sources"),
    ]
    if m is not None:
        out.append(
            Figure(
                "bytes-after",
                "Size after",
                human_bytes(m.target_bytes),
                m.target_bytes,
                f"at the migration; now {human_bytes(facts.target.bytes)}",
            )
        )
    elif facts.target.exists:
        out.append(
            Figure(
                "bytes-after",
                "Size after",
                human_bytes(facts.target.bytes),
                facts.target.bytes,
                "now",
            )
        )
    backups = len(facts.backups)
    out.append(
        Figure(
            "backup-points",
            "Backup points",
            f"{len(stores):,} → 1",
            len(stores),
            "files to copy consistently before; one file after"
            + (f"; {backups} kept in .dbfold/backups/" if backups else ""),
        )
    )
    rows_before = sum(s.rows for s in stores)
    out.append(
        Figure(
            "rows-before", "Rows before", f"{rows_before:,}", rows_before, "in the analysed stores"
        )
    )
    if m is not None:
        out.append(
            Figure(
                "rows-copied", "Rows copied", f"{m.rows:,}", m.rows, f"run {m.run_id} ({m.mode})"
            )
        )
        if m.verify is not None:
            verified = sum(c.target_rows for c in m.verify.checks)
            verdict = "all match" if m.verify.ok else f"{len(m.verify.mismatches)} mismatches"
            out.append(Figure("rows-verified", "Rows verified", f"{verified:,}", verified, verdict))
    return out


def _per_table_rows(facts: ReportFacts) -> list[tuple[str, int, int]]:
    """(unified table, rows in its sources, rows in the target) for the rows chart.

    A table the verification checked shows its two sides as verify counted them (rows
    written through adapters left out of both); any other table its sources' rows in the
    analysis and its rows in the target now.
    """
    checked: dict[str, list[int]] = {}
    for c in facts.verify.checks if facts.verify is not None else ():
        pair = checked.setdefault(c.target, [0, 0])
        pair[0] += c.source_rows
        pair[1] += c.target_rows
    rows = {}
    if facts.analysis is not None:
        rows = {(s.path, t.name): t.rows for s in facts.analysis.stores for t in s.tables}
    out = []
    for t in facts.plan.tables:
        if t.name in checked:
            before, after = checked[t.name]
        else:
            before = sum(rows.get((s.store, s.table), 0) for s in t.sources if not s.array)
            after = facts.target.rows.get(t.name, 0)
        out.append((t.name, before, after))
    return out


def _section(key: str, body: str, lead: str = "") -> str:
    title = dict(SECTIONS)[key]
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{key}"><h2>{escape(title)}</h2>{lead_html}{body}</section>'


def _table(head: list[tuple[str, str]], rows: list[str], css: str = "data") -> str:
    ths = "".join(
        f'<th class="{c}">{escape(h)}</th>' if c else f"<th>{escape(h)}</th>" for h, c in head
    )
    return (
        f'<table class="{css}"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def diagram_html(facts: ReportFacts) -> str:
    """The ER diagram with its tools: zoom, a page per store group, find a table."""
    plan = facts.plan
    groups = layout(plan).groups
    options = "".join(
        f'<option value="{i}">{escape(store)} ({n})</option>'
        for i, (store, _box, n) in enumerate(groups)
    )
    tools = (
        '<div class="er-tools">'
        '<button id="er-fit" type="button">fit all</button>'
        '<button id="er-in" type="button">+</button><button id="er-out" type="button">−</button>'
        '<button id="er-prev" type="button">◀ group</button>'
        f'<select id="er-group"><option value="">all {len(groups)} groups</option>'
        f"{options}</select>"
        '<button id="er-next" type="button">group ▶</button>'
        '<input id="er-find" type="search" placeholder="find a table" size="16">'
        '<span class="legend">PK key · FK reference · arrows point at the referenced table; '
        "dashed: suggested · purple: merged from several stores · wheel zooms, drag moves, "
        "double-click opens the table</span></div>"
    )
    rows = dict(facts.target.rows)
    return tools + f'<div class="er-wrap">{er_svg(plan, rows or None)}</div>'


def before_after_html(facts: ReportFacts) -> str:
    """Figures, a size chart (stores stacked, then the one database) and rows per table."""
    cards = "".join(
        f'<div class="figure" data-figure="{f.key}" '
        f'data-value="{"" if f.value is None else f.value}">'
        f'<div class="k">{escape(f.label)}</div><div class="v">{escape(f.shown)}</div>'
        f'<div class="s">{escape(f.sub)}</div></div>'
        for f in figures(facts)
    )
    out = [f'<div class="figures">{cards}</div>']
    a = facts.analysis
    if a is not None and a.stores:
        segments = [(s.path, s.bytes) for s in sorted(a.stores, key=lambda s: -s.bytes)]
        total = sum(v for _, v in segments)
        bars = [(f"before: {len(segments)} stores", segments, human_bytes(total))]
        after = facts.migration.target_bytes if facts.migration else facts.target.bytes
        if facts.migration is not None or facts.target.exists:
            bars.append(("after: 1 database", [(facts.target.path, after)], human_bytes(after)))
        out.append(
            "<h3>Size</h3>" + stacked_bars("chart-size", bars, title="Size before and after")
        )
        store_rows = [
            f'<tr><td class="mono">{escape(s.path)}</td><td>{escape(s.kind)}</td>'
            f'<td class="num">{human_bytes(s.bytes)}</td><td class="num">{len(s.tables)}</td>'
            f'<td class="num">{s.rows:,}</td></tr>'
            for s in a.stores
        ]
        out.append(
            "<details><summary>the stores before</summary>"
            + _table(
                [("store", ""), ("kind", ""), ("size", "num"), ("tables", "num"), ("rows", "num")],
                store_rows,
            )
            + "</details>"
        )
    if facts.backups:
        items = "".join(
            f"<li><code>{escape(b.path)}</code> {human_bytes(b.bytes)}, {escape(b.when)}</li>"
            for b in facts.backups
        )
        out.append(f"<h3>Backups kept</h3><ul>{items}</ul>")
    pairs = _per_table_rows(facts)
    if pairs:
        differ = sum(1 for _, b, a_ in pairs if a_ != b)
        note = (
            "every table holds as many rows as its sources"
            if not differ
            else f"{differ} table{' differs' if differ == 1 else 's differ'} (bold): not migrated,"
            " or not verified since"
        )
        if facts.verify is not None and facts.verify_when:
            note += f"; as the verification of {stamp_text(facts.verify_when)} counted them"
        out.append(
            f'<h3>Rows per table</h3><p class="lead">{escape(note)}</p>'
            + paired_bars(
                "chart-rows",
                pairs,
                title="Rows per table",
                before="in the sources",
                after="in the database",
            )
        )
    return "".join(out)


def lineage_html(facts: ReportFacts) -> str:
    """Every source table → its unified table, with renames, discriminators, exclusions."""
    rows = []
    for row in lineage(facts.plan, facts.analysis):
        how = []
        if row.target is None:
            how.append(f"excluded: {escape(row.reason or '')}")
        if row.discriminator:
            how.append(
                f'<span class="badge merged">{escape(row.discriminator)} = '
                f"{escape(repr(row.value))}</span>"
            )
        if row.array:
            how.append(f'<span class="badge">array {escape(row.array)}</span>')
        if row.renamed:
            how.append(f'<span class="badge">table renamed from {escape(row.table)}</span>')
        if row.renames:
            pairs = ", ".join(f"{escape(a)} → {escape(b)}" for a, b in row.renames)
            how.append(
                f"<details><summary>{len(row.renames)} columns renamed</summary>"
                f'<span class="mono">{pairs}</span></details>'
            )
        excluded = ' class="lineage excluded"' if row.target is None else ' class="lineage"'
        rows.append(
            f'<tr{excluded} data-store="{escape(row.store)}" data-table="{escape(row.table)}" '
            f'data-target="{escape(row.target or "")}">'
            f'<td class="mono">{escape(row.store)}</td><td>{escape(row.kind)}</td>'
            f'<td class="mono">{escape(row.table or "—")}</td>'
            f'<td class="num">{"" if row.rows is None else f"{row.rows:,}"}</td>'
            f'<td class="mono">{escape(row.target or "—")}</td><td>{" ".join(how)}</td>'
            f'<td><code class="path">{escape(row.path)}</code></td></tr>'
        )
    return _table(
        [
            ("store", ""),
            ("kind", ""),
            ("source table", ""),
            ("rows", "num"),
            ("→ unified table", ""),
            ("how", ""),
            ("plan.json", ""),
        ],
        rows,
    )


def verification_html(facts: ReportFacts) -> str:
    """Per source: rows on both sides, checksums, status; skipped sources and problems."""
    v = facts.verify
    if v is None:
        return (
            '<p class="empty">Not verified yet: run <code>dbfold migrate --execute</code> '
            "or <code>dbfold verify</code>.</p>"
        )
    rows_total = sum(c.source_rows for c in v.checks)
    when = stamp_text(facts.verify_when) if facts.verify_when else ""
    verdict = "every count and checksum matches" if v.ok else f"{len(v.mismatches)} mismatches"
    css = "status-ok" if v.ok else "status-bad"
    head = (
        f'<p class="lead" data-figure="verify-status" data-value="{int(v.ok)}">'
        f'<span class="{css}">{escape(verdict)}</span> · {len(v.checks)} sources, '
        f"{rows_total:,} rows · {escape(when)}</p>"
    )
    rows = []
    for c in v.checks:
        status = ("ok", "status-ok") if c.ok else ("MISMATCH", "status-bad")
        label = c.table + (f"[{c.array}]" if c.array else "")
        diff = (
            f'<div class="status-bad">{escape(c.first_difference)}</div>'
            if c.first_difference
            else ""
        )
        rows.append(
            f'<tr class="check" data-status="{status[0].lower()}" data-store="{escape(c.store)}" '
            f'data-table="{escape(label)}" data-target="{escape(c.target)}">'
            f'<td class="mono">{escape(c.store)}</td><td class="mono">{escape(label)}</td>'
            f'<td class="mono">{escape(c.target)}</td><td class="num">{c.source_rows:,}</td>'
            f'<td class="num">{c.target_rows:,}</td>'
            f'<td class="num">{f"{c.adapter_rows:,}" if c.adapter_rows else ""}</td>'
            f'<td class="num">{f"{c.pending_rows:,}" if c.pending_rows else ""}</td>'
            f'<td class="mono">{_checksums(c.source_checksum, c.target_checksum)}</td>'
            f'<td class="{status[1]}">{status[0]}{diff}</td></tr>'
        )
    m = facts.migration
    for s in m.sources if m is not None else ():
        if s.status == "skipped":
            rows.append(
                f'<tr class="check" data-status="skipped" data-store="{escape(s.store)}" '
                f'data-table="{escape(s.table)}" data-target="{escape(s.target)}">'
                f'<td class="mono">{escape(s.store)}</td><td class="mono">{escape(s.table)}</td>'
                f'<td class="mono">{escape(s.target)}</td>'
                '<td class="num"></td><td class="num"></td>'
                '<td class="num"></td><td class="num"></td><td></td>'
                '<td class="status-skip">skipped (see the problems)</td></tr>'
            )
    table = _table(
        [
            ("store", ""),
            ("source", ""),
            ("→ table", ""),
            ("source rows", "num"),
            ("target rows", "num"),
            ("via adapters", "num"),
            ("pending", "num"),
            ("checksum (source / target)", ""),
            ("status", ""),
        ],
        rows,
    )
    problems = list(v.problems) + (list(m.problems) if m is not None else [])
    seen: set[str] = set()
    items = []
    for p in problems:
        if p.message in seen:
            continue
        seen.add(p.message)
        css_p = "status-bad" if p.severity == "error" else "status-skip"
        items.append(
            f'<li><span class="{css_p}">{escape(p.severity)}</span>: {escape(p.message)}</li>'
        )
    extra = f"<h3>Problems</h3><ul>{''.join(items)}</ul>" if items else ""
    return head + table + extra


def _checksums(source: str, target: str) -> str:
    """Both sides' checksums (one when they agree), long ones shortened in the middle."""

    def short(text: str) -> str:
        return text if len(text) <= 28 else text[:14] + "…" + text[-13:]

    if source == target:
        return escape(short(source))
    return f'{escape(short(source))} / <span class="status-bad">{escape(short(target))}</span>'


def review_html(facts: ReportFacts) -> str:
    """Decisions, open suggestions, exclusions and notes, each with the path to edit."""
    items = review_items(facts.plan)
    groups = (
        ("suggestion", "Open suggestions", "set accepted to true, then run dbfold design --check"),
        ("merge", "Suggested merges", "set accepted to true, then run dbfold design --check"),
        ("decision", "Design decisions", "edit the place named, then run dbfold design --check"),
        ("exclusion", "Left out, and why", "remove the entry to carry it over"),
        ("note", "Notes", ""),
    )
    out = []
    for kind, title, how in groups:
        mine: list[Review] = [r for r in items if r.kind == kind]
        if not mine:
            continue
        lis = "".join(
            f'<li class="review-item {kind}" data-path="{escape(r.path)}">'
            + (f'<span class="badge">{escape(r.rule)}</span>' if r.rule else "")
            + (f"<code>{escape(r.subject)}</code>: " if r.subject else "")
            + f'{escape(r.text)} <code class="path">{escape(r.path)}</code></li>'
            for r in mine
        )
        hint = f' <span class="legend">({escape(how)})</span>' if how else ""
        out.append(f'<h3>{escape(title)} · {len(mine)}{hint}</h3><ul class="review">{lis}</ul>')
    return "".join(out) or '<p class="empty">Nothing to review.</p>'


def tables_html(facts: ReportFacts) -> str:
    """Every unified table: its columns, keys, indexes and sources."""
    out = []
    rows = facts.target.rows
    postgres = is_postgres(facts.plan.target)
    for i, t in enumerate(facts.plan.tables):
        pk = set(t.primary_key)
        fks = {
            c: f"{f.ref_table}.{', '.join(f.ref_columns)}"
            for f in t.foreign_keys
            for c in f.columns
        }
        cols = "".join(
            f'<tr><td class="mono">{escape(c.name)}</td>'
            f'<td class="mono">{escape(shown_type(c, postgres))}</td>'
            f"<td>{'PK' if c.name in pk else ''}</td><td>{'' if c.nullable else 'not null'}</td>"
            f'<td class="mono">{escape(fks.get(c.name, ""))}</td>'
            f"<td>{escape(c.note or '')}</td></tr>"
            for c in t.columns
        )
        sources = "".join(
            f"<li><code>{escape(s.store)}:{escape(s.table)}</code>"
            + (f" array <code>{escape(s.array)}</code>" if s.array else "")
            + (
                f" {escape(s.discriminator)} = {escape(repr(s.value))}"
                if s.discriminator and s.value is not None
                else ""
            )
            + f' <code class="path">$.tables[{i}].sources</code></li>'
            for s in t.sources
        )
        indexes = "".join(
            f"<li><code>{escape(ix.name)}</code> ({escape(', '.join(ix.columns))})"
            + (" unique" if ix.unique else "")
            + "</li>"
            for ix in t.indexes
        )
        count = f", {rows[t.name]:,} rows" if t.name in rows else ""
        out.append(
            f'<details class="table-detail" id="table-{i}" data-table="{escape(t.name)}">'
            f"<summary><b>{escape(t.name)}</b> · {len(t.columns)} columns{count} · "
            f'<code class="path">$.tables[{i}]</code></summary>'
            + _table(
                [
                    ("column", ""),
                    ("type", ""),
                    ("key", ""),
                    ("null", ""),
                    ("references", ""),
                    ("note", ""),
                ],
                [cols],
            )
            + f"<h3>Sources</h3><ul>{sources}</ul>"
            + (f"<h3>Indexes</h3><ul>{indexes}</ul>" if indexes else "")
            + "</details>"
        )
    return "".join(out)


def render_html(facts: ReportFacts) -> str:
    """The whole page."""
    plan = facts.plan
    root = escape(facts.root)
    nav = "".join(f'<a href="#{k}">{escape(t)}</a>' for k, t in SECTIONS)
    target = escape(facts.target.path)
    state = (
        f"target <code>{target}</code>, {human_bytes(facts.target.bytes)}"
        if facts.target.exists
        else f"target <code>{target}</code> not built yet "
        "(run <code>dbfold migrate --execute</code>)"
    )
    if facts.target.error:
        state += f" — {escape(facts.target.error)}"
    body = [
        _section(
            "diagram",
            diagram_html(facts),
            f"{escape(summary_line(plan))}. Tables are grouped by the store their rows come "
            "from; tables merged from several stores have a group of their own.",
        ),
        _section("before-after", before_after_html(facts)),
        _section(
            "lineage",
            lineage_html(facts),
            "Every source table and the unified table it fills; the last column is the place "
            "in <code>.dbfold/plan.json</code> to edit.",
        ),
        _section("verification", verification_html(facts)),
        _section(
            "timeline",
            timeline_html(facts),
            "The migration journal (<code>dbfold_migrations</code> in the target), the writes "
            "made through the adapters since the cutover (<code>dbfold_adapter_log</code>), "
            "and what the next run folds in.",
        ),
        _section("review", review_html(facts)),
        _section("tables", tables_html(facts)),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>dbfold report · {root}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>dbfold report</h1><p>Project <code>{root}</code> · {state}</p>'
        f"<p>Generated {escape(stamp_text(facts.generated))} by dbfold {escape(__version__)}; "
        "REPORT.md beside this file is the same plan for code forges.</p></header>"
        f'<nav class="toc">{nav}</nav><main>{"".join(body)}</main>'
        "<footer>One self-contained file: it loads nothing from the network and opens from "
        f"any folder.</footer><script>{JS}</script></body></html>\n"
    )

"""Render ``REPORT.md``: the before/after picture of a plan, with a Mermaid ER diagram."""

from __future__ import annotations

import re

from dbfold.design.pg_types import shown_type
from dbfold.design.render_sql import summary_line
from dbfold.design.state import unique_name
from dbfold.model import Analysis
from dbfold.pgurl import is_postgres
from dbfold.plan import Plan
from dbfold.units import human_bytes


def mermaid_name(name: str) -> str:
    """A Mermaid-safe identifier: letters, digits and ``_`` only, not starting with a digit.

    >>> mermaid_name('"); DROP TABLE x; --'), mermaid_name("order items"), mermaid_name("1x")
    ('DROP_TABLE_x', 'order_items', 't_1x')
    """
    text = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "t"
    return f"t_{text}" if text[0].isdigit() else text


def _cell(text: str) -> str:
    """Markdown table cell: pipes and newlines would break the table."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text).replace('`', 'ˋ')}`"


def er_diagram(plan: Plan) -> str:
    """A Mermaid ``erDiagram`` of the plan (names sanitised, unique after sanitising)."""
    taken: list[str] = []
    ids: dict[str, str] = {}
    for t in plan.tables:
        ids[t.name] = unique_name(mermaid_name(t.name), taken)
        taken.append(ids[t.name])
    lines = ["erDiagram"]
    postgres = is_postgres(plan.target)
    for t in plan.tables:
        lines.append(f"    {ids[t.name]} {{")
        fk_cols = {c for fk in t.foreign_keys for c in fk.columns}
        col_taken: list[str] = []
        for c in t.columns:
            name = unique_name(mermaid_name(c.name), col_taken)
            col_taken.append(name)
            keys = [k for k, on in (("PK", c.primary_key), ("FK", c.name in fk_cols)) if on]
            # Mermaid wants one word as the type: "double precision" → double_precision.
            typ = mermaid_name(shown_type(c, postgres))
            lines.append(f"        {typ} {name} {', '.join(keys)}".rstrip())
        lines.append("    }")
    for t in plan.tables:
        for fk in t.foreign_keys:
            ref = plan.table(fk.ref_table)
            if ref is None:
                continue
            label = mermaid_name("_".join(fk.columns))
            lines.append(f'    {ids[ref.name]} ||--o{{ {ids[t.name]} : "{label}"')
    return "\n".join(lines)


def render_report(plan: Plan, analysis: Analysis) -> str:
    """Render the report: summary, diagram, where each source went, decisions, suggestions.

    Args:
        plan: the (checked) plan.
        analysis: the analysis the plan was made from, for sizes and row counts.
    """
    out = ["# Unified schema", "", summary_line(plan) + ".", ""]
    out += ["## Diagram", "", "```mermaid", er_diagram(plan), "```", ""]
    out += ["## Where each source goes", ""]
    out += ["| store | table | size | rows | → table |", "|---|---|---|---|---|"]
    homes = {(s.store, s.table): t.name for t in plan.tables for s in t.sources if s.array is None}
    reasons = {(e.store, e.table): e.reason for e in plan.excluded if e.kind == "table"}
    for store in analysis.stores:
        size = human_bytes(store.bytes)
        for table in store.tables or ():
            home = homes.get((store.path, table.name))
            where = (
                _code(home)
                if home
                else f"excluded: {reasons.get((store.path, table.name), 'no home')}"
            )
            out.append(
                f"| {_code(store.path)} | {_code(table.name)} | {size} | {table.rows} |"
                f" {_cell(where)} |"
            )
        if not store.tables:
            reason = reasons.get((store.path, ""), "no tables")
            out.append(f"| {_code(store.path)} | — | {size} | 0 | excluded: {_cell(reason)} |")
    before = sum(s.bytes for s in analysis.stores)
    rows = sum(s.rows for s in analysis.stores)
    out += ["", f"Before: {len(analysis.stores)} stores, {human_bytes(before)}, {rows} rows.", ""]
    other = [e for e in plan.excluded if e.kind != "table"]
    if other:
        out += ["## Not carried over", ""]
        out += ["What the unified schema leaves out, and why:", ""]
        out += [f"- {e.kind} {_code(e.store)} {_code(e.table)}: {_cell(e.reason)}" for e in other]
        out.append("")
    if plan.decisions:
        out += ["## Decisions", ""]
        out += [f"- **{d.rule}** {_code(d.subject)}: {_cell(d.text)}" for d in plan.decisions]
        out.append("")
    open_ = [s for s in plan.suggestions if not s.accepted and s.kind != "merge"]
    if open_:
        out += ["## Suggestions (set `accepted: true` in plan.json to apply)", ""]
        out += [f"- {_code(s.id)}: {_cell(s.text)}" for s in open_]
        out.append("")
    merges = [s for s in plan.suggestions if not s.accepted and s.kind == "merge"]
    if merges:
        # Same shape, different names: dbfold does not guess that they are one entity.
        out += [
            "## Suggested merges"
            " (set `accepted: true` in plan.json, then run `dbfold design --check`)",
            "",
        ]
        out += [f"- {_code(s.id)}: {_cell(s.text)}" for s in merges]
        out.append("")
    if is_postgres(plan.target):
        out += _citus_section(plan, analysis)
    if plan.notes:
        out += ["## Notes", ""] + [f"- {_cell(n)}" for n in plan.notes] + [""]
    return "\n".join(out)


def table_rows(plan: Plan, analysis: Analysis) -> dict[str, int]:
    """Rows each unified table gets from its sources, as the analysis counted; tables
    filled from arrays inside records are left out (analyze counts the records only)."""
    counts = {(s.path, t.name): t.rows for s in analysis.stores for t in s.tables}
    return {
        t.name: sum(counts.get((s.store, s.table), 0) for s in t.sources)
        for t in plan.tables
        if t.sources and all(s.array is None for s in t.sources)
    }


def _citus_section(plan: Plan, analysis: Analysis) -> list[str]:
    from dbfold.design.citus import citus_layout, describe_layout

    layout = citus_layout(plan, table_rows(plan, analysis))
    out = ["## Citus layout (what `dbfold design --citus` writes into unified.sql)", ""]
    out += [f"- {_cell(line)}" for line in describe_layout(layout)]
    return [*out, ""]

"""Lineage and review items: where every source table went, and what to edit in plan.json.

Pure functions of the plan and the analysis. Each decision, suggestion and exclusion is
paired with the JSONPath (``$.tables[3].name``) of the place in ``.dbfold/plan.json`` that
changes it, so a reviewer goes from the report straight to the line to edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbfold.model import Analysis
from dbfold.plan import Decision, Plan, Source


@dataclass(frozen=True)
class Lineage:
    """One source table (or one array of it) and the unified table it fills, if any."""

    store: str
    kind: str
    table: str
    rows: int | None
    target: str | None  # None: excluded (see ``reason``)
    path: str  # plan.json path of the source entry, or of the exclusion
    renames: tuple[tuple[str, str], ...] = ()
    discriminator: str | None = None
    value: str | None = None
    array: str | None = None
    reason: str | None = None

    @property
    def renamed(self) -> bool:
        """The unified table's name is not the source table's."""
        return self.target is not None and self.array is None and self.target != self.table


@dataclass(frozen=True)
class Review:
    """A decision, suggestion, exclusion or note, with the plan.json path that changes it."""

    kind: str  # decision, suggestion, merge, exclusion, note
    subject: str
    text: str
    path: str
    rule: str = ""


def _source_row(plan: Plan, t_index: int, s_index: int, s: Source, rows: int | None) -> Lineage:
    t = plan.tables[t_index]
    renames = tuple((src, col) for src, col in s.columns.items() if src != col)
    return Lineage(
        s.store,
        "",
        s.table,
        rows,
        t.name,
        f"$.tables[{t_index}].sources[{s_index}]",
        renames,
        s.discriminator if s.value is not None else None,
        s.value,
        s.array,
    )


def lineage(plan: Plan, analysis: Analysis | None) -> list[Lineage]:
    """Every source table of the analysis → its unified table(s), or why it has none.

    Without an analysis, every source the plan names, in the plan's order.
    """
    placed: dict[tuple[str, str], list[tuple[int, int, Source]]] = {}
    for ti, t in enumerate(plan.tables):
        for si, s in enumerate(t.sources):
            placed.setdefault((s.store, s.table), []).append((ti, si, s))
    excluded = {
        (e.store, e.table): (i, e) for i, e in enumerate(plan.excluded) if e.kind == "table"
    }
    out: list[Lineage] = []
    if analysis is None:
        for (_store, _table), homes in placed.items():
            out += [_source_row(plan, ti, si, s, None) for ti, si, s in homes]
        return out
    for store in analysis.stores:
        tables = [(t.name, t.rows) for t in store.tables] or [("", 0)]
        for name, rows in tables:
            homes = placed.get((store.path, name), [])
            for ti, si, s in sorted(homes, key=lambda h: (h[2].array or "", h[0])):
                row = _source_row(plan, ti, si, s, None if s.array else rows)
                out.append(_with_kind(row, store.kind))
            if homes:
                continue
            hit = excluded.get((store.path, name)) or excluded.get((store.path, ""))
            path = f"$.excluded[{hit[0]}]" if hit else "$.tables"
            reason = hit[1].reason if hit else "no unified table in the plan"
            out.append(Lineage(store.path, store.kind, name, rows, None, path, reason=reason))
    return out


def _with_kind(row: Lineage, kind: str) -> Lineage:
    from dataclasses import replace

    return replace(row, kind=kind)


def _find_table(plan: Plan, subject: str) -> tuple[int, Source, str] | None:
    """The table whose source ``store:table`` the subject starts with (longest match),
    that source, and what follows it in the subject (``.column`` or '')."""
    best: tuple[int, Source, str] | None = None
    best_len = -1
    for ti, t in enumerate(plan.tables):
        for s in t.sources:
            head = f"{s.store}:{s.table}"
            if not subject.startswith(head):
                continue
            rest = subject[len(head) :]
            if rest and rest[0] not in ".,[ ":
                continue
            array_match = bool(s.array) and rest.lstrip(".").split(".")[0] == s.array
            score = len(head) + (1 if array_match else 0)
            if (not s.array or array_match) and score > best_len:
                best, best_len = (ti, s, rest), score
    return best


def decision_path(plan: Plan, index: int, decision: Decision) -> str:
    """Where in plan.json a decision is changed.

    >>> from dbfold.plan import PlanColumn, PlanTable
    >>> p = Plan(tables=(PlanTable("x_events", (PlanColumn("id", "integer"),),
    ...          sources=(Source("x.db", "events", {"id": "id"}),)),))
    >>> decision_path(p, 0, Decision("names", "x.db:events", "named 'x_events'"))
    '$.tables[0].name'
    >>> decision_path(p, 0, Decision("types", "x.db:events.id", "…"))
    '$.tables[0].columns[0].type'
    """
    found = _find_table(plan, decision.subject)
    if found is None:
        return _unified_path(plan, decision.subject) or f"$.decisions[{index}]"
    ti, s, rest = found
    table = plan.tables[ti]
    if decision.rule == "names":
        return f"$.tables[{ti}].name"
    if decision.rule == "merges":
        return f"$.tables[{ti}].sources"
    column = rest.lstrip(".")
    if column and decision.rule in ("types", "keys", "columns", "column_types"):
        target = s.columns.get(column, column)
        for ci, c in enumerate(table.columns):
            if c.name == target:
                return f"$.tables[{ti}].columns[{ci}]" + (
                    ".type" if decision.rule in ("types", "column_types") else ""
                )
    return f"$.tables[{ti}]"


def _unified_path(plan: Plan, subject: str) -> str | None:
    """The path of a subject named in unified names: ``table`` or ``table.column``."""
    for ti, t in enumerate(plan.tables):
        if subject == t.name:
            return f"$.tables[{ti}]"
        if subject.startswith(t.name + "."):
            column = subject[len(t.name) + 1 :]
            for ci, c in enumerate(t.columns):
                if c.name == column:
                    return f"$.tables[{ti}].columns[{ci}]"
    return None


def review_items(plan: Plan) -> list[Review]:
    """Decisions, open suggestions, exclusions and notes, each with its plan.json path."""
    out = [
        Review("decision", d.subject, d.text, decision_path(plan, i, d), d.rule)
        for i, d in enumerate(plan.decisions)
    ]
    for i, s in enumerate(plan.suggestions):
        if s.accepted:
            continue
        kind = "merge" if s.kind == "merge" else "suggestion"
        out.append(Review(kind, s.id, s.text, f"$.suggestions[{i}].accepted", s.kind))
    for i, e in enumerate(plan.excluded):
        what = f"{e.store}:{e.table}" if e.table else e.store
        if e.column:
            what += f".{e.column}"
        out.append(Review("exclusion", what, e.reason, f"$.excluded[{i}]", e.kind))
    out += [Review("note", "", n, f"$.notes[{i}]") for i, n in enumerate(plan.notes)]
    return out

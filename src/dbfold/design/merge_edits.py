"""An accepted merge suggestion, applied by ``design --check`` like any other hand edit.

Tables whose shapes agree but whose names do not are only suggested as a merge (``"kind":
"merge"``). Setting ``accepted`` to true is an edit of plan.json; ``--check`` makes the
merge then, instead of leaving it to the next ``dbfold design``: the merged table is the
one ``design`` makes from the same plan (its columns, discriminator, key and indexes), it
keeps the name the user gave the first table, and everything else of the edited plan stays
as the user left it. What named the tables merged away is carried: a foreign key is pointed
at the merged table where ``design`` would keep it and dropped where it cannot be kept (a
plain table cannot point at rows of several stores), and a view or trigger that reads them
moves to ``excluded`` (it would see every store's rows), as ``design`` does.
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.pipeline import design
from dbfold.design.rules.merges import KIND
from dbfold.design.rules.suggest import suggestion_key
from dbfold.model import Analysis
from dbfold.plan import (
    Decision,
    Exclusion,
    Plan,
    PlanTable,
    PlanView,
    Suggestion,
    names_in,
    rename_table,
)

_Keys = frozenset[tuple[str, str, "str | None"]]


def _keys(t: PlanTable) -> _Keys:
    return frozenset((s.store, s.table, s.array) for s in t.sources)


def pending_merges(plan: Plan) -> list[int]:
    """Indexes of accepted merge suggestions whose tables are still apart."""
    out = []
    for k, s in enumerate(plan.suggestions):
        if s.kind != KIND or not s.accepted:
            continue
        a, b = plan.table(s.table), plan.table(s.ref_table)
        if a is not None and b is not None and a is not b:
            out.append(k)
    return out


def _reads(plan: Plan, v: PlanView, name: str, *, trigger: bool) -> bool:
    """Whether a view's (or trigger's) SQL names table ``name``."""
    if trigger:
        return name.casefold() in names_in(v.sql)
    probe = replace(plan, views=(v,), triggers=())
    return rename_table(probe, name, "dbfold_probe").views[0].sql != v.sql


def apply_merges(
    plan: Plan, analysis: Analysis, options: DesignOptions
) -> tuple[Plan, tuple[str, ...]]:
    """``plan`` with its accepted, not yet applied merge suggestions applied.

    Returns:
        The plan and one line per place changed (``$.suggestions[2]: merge applied: …``);
        the plan unchanged when nothing was pending. A pending merge that ``design`` does
        not make with ``options`` (the plan was made with other merge options) is left
        apart, and a plan note says so.
    """
    pending = pending_merges(plan)
    if not pending:
        return plan, ()
    redesigned = design(analysis, options=options, previous=plan)
    kept = {_keys(t) for t in plan.tables}
    merged: list[tuple[PlanTable, list[PlanTable]]] = []
    for r in redesigned.tables:
        if _keys(r) in kept:
            continue
        parts = [t for t in plan.tables if _keys(t) and _keys(t) <= _keys(r)]
        if len(parts) > 1 and frozenset().union(*(_keys(t) for t in parts)) == _keys(r):
            merged.append((r, parts))
    lines: list[str] = []
    # The merged table keeps the name the user gave its first table.
    for i, (r, parts) in enumerate(merged):
        first_key = (r.sources[0].store, r.sources[0].table, r.sources[0].array)
        first = next(t for t in parts if first_key in _keys(t))
        clash = redesigned.table(first.name)
        if first.name != r.name and (clash is None or clash.name == r.name):
            redesigned = rename_table(redesigned, r.name, first.name)
            merged[i] = (next(t for t in redesigned.tables if _keys(t) == _keys(r)), parts)
    absorbed = {t.name.casefold(): m for m, parts in merged for t in parts}
    counterpart = {_keys(t): t for t in redesigned.tables}

    tables: list[PlanTable] = []
    placed: set[str] = set()
    for i, t in enumerate(plan.tables):
        m = absorbed.get(t.name.casefold())
        if m is not None:
            if m.name not in placed:
                placed.add(m.name)
                tables.append(m)
            continue
        fks = []
        for k, fk in enumerate(t.foreign_keys):
            to = absorbed.get(fk.ref_table.casefold())
            if to is None:
                fks.append(fk)
                continue
            mine = {c.casefold() for c in fk.columns}
            other = counterpart.get(_keys(t))
            repl = [
                f
                for f in (other.foreign_keys if other is not None else ())
                if f.ref_table.casefold() == to.name.casefold()
                and mine <= {c.casefold() for c in f.columns}
            ]
            where = f"$.tables[{i}].foreign_keys[{k}]"
            if repl:
                fks.append(repl[0])
                lines.append(f"{where}: now ({', '.join(repl[0].columns)}) → {to.name}")
            else:
                disc = next((s.discriminator for s in to.sources if s.discriminator), "source")
                lines.append(
                    f"{where}: dropped ({to.name!r} now holds several stores' rows;"
                    f" its key includes {disc!r})"
                )
        tables.append(replace(t, foreign_keys=tuple(fks)))

    excluded = list(plan.excluded)
    views: list[PlanView] = []
    triggers: list[PlanView] = []
    for kind, items, kept_items in (
        ("view", plan.views, views),
        ("trigger", plan.triggers, triggers),
    ):
        for k, v in enumerate(items):
            hit = next((n for n in absorbed if _reads(plan, v, n, trigger=kind == "trigger")), None)
            if hit is None:
                kept_items.append(v)
                continue
            m = absorbed[hit]
            lines.append(f"$.{kind}s[{k}]: moved to excluded (it reads a merged table)")
            reason = (
                f"it reads {hit!r}, which is merged into {m.name!r} with the rows of other"
                " stores: it would see every store's rows. Recreate it by hand if it is"
                " still needed, or undo the merge in plan.json"
            )
            excluded.append(Exclusion(v.store, v.source_name, reason, kind=kind, by="design"))

    names = {m.name.casefold() for m, _ in merged}
    by_id = {s.id: s for s in redesigned.suggestions}
    suggestions: list[Suggestion] = []
    not_made: list[str] = []
    for k, s in enumerate(plan.suggestions):
        if k in pending:
            done = by_id.get(s.id)
            if done is not None and done.table.casefold() in names:
                (m, parts) = next((m, p) for m, p in merged if m.name == done.table)
                suggestions.append(done)
                lines.append(
                    f"$.suggestions[{k}]: merge applied: {', '.join(repr(t.name) for t in parts)}"
                    f" are one table {m.name!r} now, column"
                    f" {m.sources[0].discriminator!r} says which store a row came from"
                )
                continue
            not_made.append(s.id)
            suggestions.append(s)
            continue
        if s.kind != KIND and {s.table.casefold(), s.ref_table.casefold()} & set(absorbed):
            lines.append(f"$.suggestions[{k}]: dropped (its table is merged)")
            continue
        suggestions.append(s)
    have = {suggestion_key(s) for s in suggestions}
    for s in redesigned.suggestions:
        if s.kind == KIND or suggestion_key(s) in have:
            continue
        if {s.table.casefold(), s.ref_table.casefold()} & names:
            suggestions.append(s)

    notes = list(plan.notes)
    for sid in not_made:
        notes.append(
            f"accepted merge {sid!r} was not made: `dbfold design` does not merge these"
            " tables with the merge options given; run `dbfold design` with the options"
            " the plan was made with"
        )
    old = set(plan.decisions)
    decisions: list[Decision] = [
        d
        for d in plan.decisions
        if not (d.rule == "merges" and any(plan.suggestions[k].id in d.text for k in pending))
    ]
    decisions += [d for d in redesigned.decisions if d not in old and d.rule in ("merges", "keys")]
    out = replace(
        plan,
        tables=tuple(tables),
        views=tuple(views),
        triggers=tuple(triggers),
        excluded=tuple(excluded),
        suggestions=tuple(suggestions),
        decisions=tuple(decisions),
        notes=tuple(dict.fromkeys(notes)),
    )
    return out, tuple(lines)

"""Rule: offer likely foreign keys as suggestions; apply those the user accepted.

A column ``<x>_id`` that is not already a key is a likely reference to a table named ``x``,
``xs`` or ``xes`` (or one ending in ``_x`` … after a store prefix) whose primary key is one
column. The plan lists it with ``accepted: false``; it becomes a foreign key only once the
user sets ``accepted: true`` (in plan.json, kept across re-runs of ``design``).

Merge suggestions (``kind: "merge"``) are made and applied by ``rules.merges``; this rule only
points them at the tables' final names.
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.rules.merges import resolve_merge_suggestions
from dbfold.design.state import State
from dbfold.plan import PlanForeignKey, PlanTable, Suggestion

RULE = "suggestions"


def _candidates(stem: str, tables: tuple[PlanTable, ...]) -> list[PlanTable]:
    names = {stem, f"{stem}s", f"{stem}es"}
    exact = [t for t in tables if t.name.casefold() in names]
    if exact:
        return exact
    return [t for t in tables if any(t.name.casefold().endswith(f"_{n}") for n in names)]


def likely_foreign_keys(tables: tuple[PlanTable, ...]) -> tuple[Suggestion, ...]:
    """Every ``*_id`` column that probably points at another table's one-column key."""
    out: list[Suggestion] = []
    for table in tables:
        used = {c.casefold() for fk in table.foreign_keys for c in fk.columns}
        for col in table.columns:
            low = col.name.casefold()
            if not low.endswith("_id") or low in used or len(low) <= 3:
                continue
            if tuple(p.casefold() for p in table.primary_key) == (low,):
                continue
            refs = [
                t
                for t in _candidates(low[:-3], tables)
                if len(t.primary_key) == 1 and t.name != table.name
            ]
            if len(refs) != 1:
                continue  # none, or ambiguous: a guess between tables helps nobody
            ref = refs[0]
            out.append(
                Suggestion(
                    id=f"fk:{table.name}.{col.name}->{ref.name}.{ref.primary_key[0]}",
                    kind="foreign_key",
                    text=(
                        f"{table.name}.{col.name} looks like a reference to"
                        f" {ref.name}.{ref.primary_key[0]}"
                    ),
                    table=table.name,
                    columns=(col.name,),
                    ref_table=ref.name,
                    ref_columns=ref.primary_key,
                )
            )
    return tuple(out)


def suggestion_key(s: Suggestion) -> str:
    """What a suggestion proposes, as a string independent of its id (case-insensitive)."""
    return "|".join(
        [s.kind, s.table, ",".join(s.columns), s.ref_table, ",".join(s.ref_columns)]
    ).casefold()


def apply_suggestion(table: PlanTable, suggestion: Suggestion) -> PlanTable:
    """Add an accepted foreign-key suggestion to its table (no-op if already there).

    Other kinds (``merge``) change the plan's tables, not one table: ``design`` and
    ``design --check`` (``design.merge_edits``) apply them, so here they are a no-op.
    """
    if suggestion.kind != "foreign_key":
        return table
    fk = PlanForeignKey(
        columns=suggestion.columns,
        ref_table=suggestion.ref_table,
        ref_columns=suggestion.ref_columns,
    )
    if fk in table.foreign_keys:
        return table
    return replace(table, foreign_keys=(*table.foreign_keys, fk))


def suggest_keys(state: State, options: DesignOptions) -> State:
    """Offer likely foreign keys; accept those accepted in the previous plan."""
    earlier = resolve_merge_suggestions(state.suggestions, state.tables)
    found = likely_foreign_keys(state.tables)
    accepted = state.edits.accepted
    suggestions = tuple(
        replace(s, accepted=bool({s.id, suggestion_key(s)} & accepted)) for s in found
    )
    notes = list(state.notes)
    if state.previous is not None:
        now = {k for s in (*earlier, *suggestions) if s.accepted for k in (s.id, suggestion_key(s))}
        for s in state.previous.suggestions:
            if s.accepted and not {s.id, suggestion_key(s)} & now:
                notes.append(f"accepted suggestion {s.id!r} no longer applies")
    tables = list(state.tables)
    decisions = list(state.decisions)
    for s in suggestions:
        if s.accepted:
            i = next(i for i, t in enumerate(tables) if t.name == s.table)
            tables[i] = apply_suggestion(tables[i], s)
            decisions.append(state.decide(RULE, s.table, f"accepted: {s.text}")[-1])
    return replace(
        state,
        tables=tuple(tables),
        suggestions=(*earlier, *suggestions),
        decisions=tuple(decisions),
        notes=tuple(notes),
    )

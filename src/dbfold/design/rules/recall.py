"""Rule: recall the user's edits from a previous plan, so a re-run keeps them.

An edit is recognised by comparing the previous plan with what it records about its sources:
a table is identified by the set of source record sets that fill it, a column by its source
path. The later rules apply these edits where they still fit; this rule notes the edits whose
sources have gone from the analysis.
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.rules.suggest import suggestion_key
from dbfold.design.state import Edits, SourceKey, State, describe


def recall_edits(state: State, options: DesignOptions) -> State:
    """Turn ``state.previous`` into :class:`Edits` and note edits that no longer apply."""
    prev = state.previous
    if prev is None:
        return state
    present = {(s.path, t.name) for s in state.analysis.stores for t in s.tables}
    table_names: dict[frozenset[SourceKey], str] = {}
    autoincrement: dict[frozenset[SourceKey], bool] = {}
    column_names: dict[SourceKey, dict[str, str]] = {}
    partition: dict[SourceKey, int] = {}
    notes = list(state.notes)
    for i, table in enumerate(prev.tables):
        keys = frozenset((s.store, s.table, s.array) for s in table.sources)
        gone = sorted(describe(k) for k in keys if (k[0], k[1]) not in present)
        if gone:
            notes.append(
                f"table {table.name!r}: source {', '.join(gone)} is no longer in the analysis;"
                " its edits no longer apply"
            )
            continue
        table_names[keys] = table.name
        autoincrement[keys] = table.autoincrement
        for src in table.sources:
            key = (src.store, src.table, src.array)
            partition[key] = i
            column_names[key] = dict(src.columns)
    excluded: dict[tuple[str, str], str] = {}
    for ex in prev.excluded:
        if ex.by != "user" or ex.kind != "table":
            continue
        if (ex.store, ex.table) in present:
            excluded[(ex.store, ex.table)] = ex.reason
        else:
            notes.append(f"exclusion of {ex.store}:{ex.table}: no longer in the analysis; dropped")
    # By id and by content: a rename of the table changes the id the next run computes.
    accepted = frozenset(
        k for s in prev.suggestions if s.accepted for k in (s.id, suggestion_key(s))
    )
    edits = Edits(
        table_names=table_names,
        column_names=column_names,
        excluded=excluded,
        partition=partition,
        accepted=accepted,
        autoincrement=autoincrement,
    )
    return replace(state, edits=edits, notes=tuple(notes))

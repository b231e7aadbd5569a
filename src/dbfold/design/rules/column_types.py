"""Rule: give every draft field a dialect-neutral type, and say why where it is not obvious.

SQLite columns keep their declared type (normalised; the declaration is recorded), so the
target's affinity treats the values as the source did; values that disagree with it are found
by :func:`~dbfold.design.probe_types.probe_types`, which reads them. Record fields are typed by
what every value allows (:func:`unify_values`).
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.coltypes import normalize_declared, unify_values
from dbfold.design.options import DesignOptions
from dbfold.design.state import Draft, Field, Home, State, describe
from dbfold.plan import Decision

RULE = "types"


def _counts(observed: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(observed.items(), key=lambda kv: -kv[1]))


def _type_sqlite(f: Field, subject: str, decisions: list[Decision]) -> Field:
    declared = f.column.type
    typ = normalize_declared(declared)
    note = None
    if not declared.strip():
        note = "no declared type: kept without affinity so values stay exactly as stored"
    return replace(f, type=typ, declared=declared or None, note=note)


def _type_record(f: Field, subject: str, decisions: list[Decision]) -> Field:
    col = f.column
    if f.kind == "json":
        return replace(f, type="json")
    observed = dict(col.observed) or {col.type: 1}
    typ, mixed = unify_values(observed)
    note = None
    if mixed:
        note = f"mixed values ({_counts(observed)}): typed {typ}, which holds every one"
        decisions.append(Decision(RULE, subject, note))
    if typ == "text" and "timestamp" in col.hints:
        typ = "timestamp"
    nullable = f.nullable and not f.primary_key
    return replace(f, type=typ, note=note, nullable=nullable)


def type_columns(state: State, options: DesignOptions) -> State:
    """Set ``type``, ``declared`` and ``note`` on every field of every draft."""
    decisions = list(state.decisions)
    homes: list[Home] = []
    for home in state.homes:
        drafts: list[Draft] = []
        for d in home.drafts:
            typer = _type_sqlite if d.table.layout == "table" else _type_record
            fields = tuple(typer(f, f"{describe(d.key)}.{f.path}", decisions) for f in d.fields)
            drafts.append(replace(d, fields=fields))
        homes.append(replace(home, drafts=tuple(drafts)))
    return replace(state, homes=tuple(homes), decisions=tuple(decisions))

"""Rule: give every draft field a dialect-neutral type, and say why where it is not obvious.

SQLite columns keep their declared type (normalised; the declaration is recorded), so the
target's affinity treats the values as the source did; values that disagree with it are found
by :func:`~dbfold.design.probe_types.probe_types`, which reads them. Record fields are typed by
what every value allows (:func:`unify_values`).
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design import collations
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
    notes = []
    if not declared.strip():
        notes.append("no declared type: kept without affinity so values stay exactly as stored")
    collation = f.column.collation
    if collation is not None and not collations.known(collation):
        notes.append(collations.unknown_note(collation))
        decisions.append(
            Decision(
                RULE,
                subject,
                f"collation {collation!r} is registered by the program, not known to SQLite:"
                " the unified column compares with BINARY",
            )
        )
        collation = None
    elif collation is not None:
        collation = collations.canonical(collation)
    return replace(
        f,
        type=typ,
        declared=declared or None,
        note="; ".join(notes) or None,
        collation=None if collation == "BINARY" else collation,
    )


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
    """Set ``type``, ``declared``, ``collation`` and ``note`` on every field of every draft.

    A collation SQLite does not know (one the legacy program registers) is not carried: the
    column's note and a plan note say so, and what to do.
    """
    decisions = list(state.decisions)
    notes = list(state.notes)
    homes: list[Home] = []
    for home in state.homes:
        drafts: list[Draft] = []
        for d in home.drafts:
            typer = _type_sqlite if d.table.layout == "table" else _type_record
            fields = tuple(typer(f, f"{describe(d.key)}.{f.path}", decisions) for f in d.fields)
            for f in d.fields:
                coll = f.column.collation
                if d.table.layout == "table" and coll is not None and not collations.known(coll):
                    notes.append(
                        f"{describe(d.key)}.{f.path}: collation {coll!r} is one the program"
                        " registers (sqlite3 create_collation) and dbfold cannot create; the"
                        " unified column compares with BINARY (its note in plan.json says"
                        " what to do)"
                    )
            drafts.append(replace(d, fields=fields))
        homes.append(replace(home, drafts=tuple(drafts)))
    return replace(state, homes=tuple(homes), decisions=tuple(decisions), notes=tuple(notes))

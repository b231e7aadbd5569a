"""Rule: carry declared keys, foreign keys and indexes over, remapped to target names.

Foreign keys are remapped through renames and merges. Between two merged tables the
discriminator joins the key (``(source, user_id) → users(source, id)``), so a row still points
at the row of its own store. A key that cannot be expressed any more (it points at a table
that was excluded, or from a plain table into a merged one) is dropped and the decision says
why. Existing indexes keep their columns; unique constraints of merged tables gain the
discriminator, because values are only unique within one store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dbfold.design import collations
from dbfold.design.options import DesignOptions
from dbfold.design.state import Draft, Home, State, describe
from dbfold.model import ForeignKey, Index
from dbfold.plan import Decision, PlanForeignKey, PlanIndex, PlanTable

RULE = "keys"


@dataclass(frozen=True)
class _Target:
    table: PlanTable
    home: Home
    draft: Draft

    def column(self, source_column: str) -> str | None:
        low = source_column.casefold()
        return next((f.name for f in self.draft.fields if f.path.casefold() == low), None)


def _lookup(state: State) -> dict[tuple[str, str], _Target]:
    out: dict[tuple[str, str], _Target] = {}
    for home, table in zip(state.homes, state.tables, strict=True):
        for d in home.drafts:
            if d.array is None:
                out[(d.store, d.table.name.casefold())] = _Target(table, home, d)
    return out


def _foreign_key(
    fk: ForeignKey, src: _Target, targets: dict[tuple[str, str], _Target]
) -> PlanForeignKey | str:
    """The remapped key, or the reason it cannot be kept."""
    ref = targets.get((src.draft.store, fk.ref_table.casefold()))
    if ref is None:
        return f"refers to {fk.ref_table!r}, which is not in the plan"
    cols = [src.column(c) for c in fk.columns]
    ref_cols_src = fk.ref_columns or tuple(f.path for f in ref.draft.fields if f.primary_key)
    ref_cols = [ref.column(c) for c in ref_cols_src]
    if None in cols or None in ref_cols or not ref_cols:
        return "a column it uses is not in the plan"
    src_disc, ref_disc = src.home.discriminator, ref.home.discriminator
    if ref_disc and not src_disc:
        return f"{ref.table.name!r} now holds several stores' rows; its key includes {ref_disc!r}"
    if src_disc and not ref_disc:
        return (
            f"{src.table.name!r} holds several stores' rows, which cannot all point at"
            f" {ref.table.name!r}"
        )
    if src_disc and ref_disc:
        cols = [src_disc, *cols]
        ref_cols = [ref_disc, *ref_cols]
    return PlanForeignKey(
        columns=tuple(c for c in cols if c is not None),
        ref_table=ref.table.name,
        ref_columns=tuple(c for c in ref_cols if c is not None),
        on_delete=fk.on_delete,
        on_update=fk.on_update,
    )


def _index_collations(ix: Index, src: _Target) -> tuple[dict[str, str], list[str]]:
    """Target column → collation where the index compares it other than the column does,
    and the collations SQLite does not know (not carried)."""
    out: dict[str, str] = {}
    lost: list[str] = []
    fields = {f.path.casefold(): f for f in src.draft.fields}
    for name, coll in zip(ix.columns, ix.collations, strict=False):
        f = fields.get(name.casefold())
        if f is None:
            continue
        if not collations.known(coll):
            lost.append(coll)
            continue
        want = collations.canonical(coll)
        if want != (f.collation or "BINARY"):
            out[f.name] = want
    return out, lost


def carry_keys(state: State, options: DesignOptions) -> State:
    """Set foreign keys, unique constraints and indexes on every table."""
    targets = _lookup(state)
    decisions = list(state.decisions)
    tables: list[PlanTable] = []
    by_key = {d.key: t for h, t in zip(state.homes, state.tables, strict=True) for d in h.drafts}
    for home, table in zip(state.homes, state.tables, strict=True):
        fks: list[PlanForeignKey] = []
        unique = list(table.unique)
        indexes: list[PlanIndex] = []
        disc = (home.discriminator,) if home.discriminator else ()
        for d in home.drafts:
            if d.parent is not None and d.parent_column:
                parent = by_key[d.parent]
                fks.append(
                    PlanForeignKey(
                        columns=(d.parent_column,),
                        ref_table=parent.name,
                        ref_columns=parent.primary_key,
                        on_delete="CASCADE",
                    )
                )
            if d.array is not None:
                continue
            src = targets[(d.store, d.table.name.casefold())]
            for fk in d.table.foreign_keys:
                got = _foreign_key(fk, src, targets)
                if isinstance(got, str):
                    text = f"foreign key ({', '.join(fk.columns)}) dropped: {got}"
                    decisions.append(Decision(RULE, describe(d.key), text))
                elif got not in fks:
                    fks.append(got)
            for ix in d.table.indexes:
                if ix.origin == "pk":
                    continue
                cols = [src.column(c) for c in ix.columns]
                if not cols or None in cols:
                    text = f"index {ix.name!r} dropped: it uses an expression or a missing column"
                    decisions.append(Decision(RULE, describe(d.key), text))
                    continue
                names = (*disc, *(c for c in cols if c is not None))
                if ix.origin == "u" and _index_collations(ix, src)[0]:
                    text = (
                        f"unique constraint {ix.name!r} compares a column with another"
                        " collation than the column's own; the unified constraint compares"
                        " with the column's"
                    )
                    decisions.append(Decision(RULE, describe(d.key), text))
                if ix.origin == "u":
                    if names not in unique:
                        unique.append(names)
                    continue
                note = "partial index: its WHERE clause is not kept" if ix.partial else None
                if any(i.columns == names for i in indexes):
                    continue
                colls, lost = _index_collations(ix, src)
                for c in lost:
                    text = (
                        f"index {ix.name!r}: collation {c!r} is registered by the program,"
                        " not known to SQLite; the index compares with the column's own"
                    )
                    decisions.append(Decision(RULE, describe(d.key), text))
                indexes.append(
                    PlanIndex(
                        name=ix.name,
                        columns=names,
                        unique=ix.unique and not ix.partial,
                        note=note,
                        collations=colls,
                    )
                )
        tables.append(
            replace(table, foreign_keys=tuple(fks), unique=tuple(unique), indexes=tuple(indexes))
        )
    return replace(state, tables=tuple(tables), decisions=tuple(decisions))

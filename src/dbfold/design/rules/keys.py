"""Rule: carry declared keys, foreign keys and indexes over, remapped to target names.

Foreign keys are remapped through renames and merges. Between two merged tables the
discriminator joins the key (``(source, user_id) → users(source, id)``), so a row still points
at the row of its own store. A key that cannot be expressed any more (it points at a table
that was excluded, or from a plain table into a merged one) is dropped and the decision says
why. Existing indexes keep their columns; unique constraints of merged tables gain the
discriminator, because values are only unique within one store. Partial and expression
indexes keep their predicate and key expressions, rewritten to target column names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from dbfold.design import collations
from dbfold.design.options import DesignOptions
from dbfold.design.state import Draft, Home, State, describe
from dbfold.indexsql import IndexSqlError, column_names, quoted_column, rename_columns
from dbfold.model import ForeignKey, Index
from dbfold.plan import Decision, PlanForeignKey, PlanIndex, PlanTable
from dbfold.quoting import literal

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


def _same(
    ix: PlanIndex, columns: tuple[str, ...], terms: tuple[str, ...], where: str | None
) -> bool:
    """True when ``ix`` has exactly this key and predicate (so a second copy adds nothing)."""
    return (ix.columns, ix.expressions, ix.where) == (columns, terms, where)


def _carried_sql_index(ix: Index, src: _Target, disc: tuple[str, ...]) -> PlanIndex | str:
    """A partial or expression index over target names, or why it cannot be carried.

    Every column its key and predicate name must be in the plan: an index over a column the
    plan drops would index something else, so it is dropped, and the decision says which.
    """
    terms = ix.expressions or tuple(ix.columns)
    lost = [c for c in ix.collations if not collations.known(c)]
    if ix.expressions and lost:
        # Inside an expression the collation cannot be dropped the way a plain column's is
        # (the key would compare otherwise); SQLite cannot build the index without it.
        return (
            f"index {ix.name!r} dropped: collation {lost[0]!r} is registered by the program,"
            " not known to SQLite"
        )
    missing: list[tuple[str, str]] = []  # (where it is named, source column)

    def mapper(part: str) -> Callable[[str], str | None]:
        def target(name: str) -> str | None:
            got = src.column(name)
            if got is None:
                missing.append((part, name))
            return got

        return target

    try:
        keys = tuple(rename_columns(t, mapper("key")) for t in terms) if ix.expressions else ()
        cols = [mapper("key")(c) for c in ix.columns] if not ix.expressions else []
        where = None if ix.where is None else rename_columns(ix.where, mapper("WHERE clause"))
    except IndexSqlError as exc:
        return f"index {ix.name!r} dropped: {exc}"
    if missing:
        part, name = missing[0]
        return f"index {ix.name!r} dropped: its {part} uses {name!r}, which is not in the plan"
    if ix.expressions:
        keys = (*(quoted_column(c) for c in disc), *keys)
        named = dict.fromkeys(n for k in keys for n in column_names(k))
        columns = tuple(named)
        colls: dict[str, str] = {}
    else:
        columns = (*disc, *(c for c in cols if c is not None))
        colls = _index_collations(ix, src)[0]
    return PlanIndex(
        name=ix.name,
        columns=columns,
        unique=ix.unique,
        collations=colls,
        where=where,
        expressions=keys,
    )


def _scoped(
    found: list[tuple[PlanIndex, str | None]], home: Home, have: list[PlanIndex]
) -> list[PlanIndex]:
    """The partial and expression indexes of one table, each once.

    In a merged table a unique one that not every source has is limited to the rows of the
    sources that had it (``"source" = 'a' AND (…)``): it constrained only those rows before,
    and the other sources' rows may well repeat its key. One that every source has, or one
    that is not unique, applies to every row, as plain indexes do.
    """
    out: list[PlanIndex] = []
    groups: dict[tuple[object, ...], list[tuple[PlanIndex, str | None]]] = {}
    for ix, value in found:
        groups.setdefault((ix.columns, ix.expressions, ix.where, ix.unique), []).append((ix, value))
    sources = sum(1 for d in home.drafts if d.array is None)
    for members in groups.values():
        ix = members[0][0]
        values = list(dict.fromkeys(v for _, v in members if v is not None))
        if home.discriminator and ix.unique and len(values) < sources and values:
            ix = replace(ix, where=_within(home.discriminator, values, ix.where))
        if any(_same(i, ix.columns, ix.expressions, ix.where) for i in (*have, *out)):
            continue
        out.append(ix)
    return out


def _within(disc: str, values: list[str], where: str | None) -> str:
    """``where`` limited to the rows whose discriminator is one of ``values``."""
    col = quoted_column(disc)
    if len(values) == 1:
        scope = f"{col} = {literal(values[0])}"
    else:
        scope = f"{col} IN ({', '.join(literal(v) for v in values)})"
    return scope if where is None else f"{scope} AND ({where})"


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
        # Indexes with a predicate or key expressions, and the discriminator value of the
        # source each came from (see _scoped).
        scoped: list[tuple[PlanIndex, str | None]] = []
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
                if ix.where is not None or ix.expressions:
                    carried = _carried_sql_index(ix, src, disc)
                    if isinstance(carried, str):
                        decisions.append(Decision(RULE, describe(d.key), carried))
                    else:
                        value = next(
                            (s.value for s in table.sources if (s.store, s.table) == d.key[:2]),
                            None,
                        )
                        scoped.append((carried, value))
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
                # A partial index whose CREATE statement could not be parsed (no ``where``
                # read): kept as a plain index, which serves the same lookups.
                note = "partial index: its WHERE clause is not kept" if ix.partial else None
                if any(_same(i, names, (), None) for i in indexes):
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
        indexes.extend(_scoped(scoped, home, indexes))
        tables.append(
            replace(table, foreign_keys=tuple(fks), unique=tuple(unique), indexes=tuple(indexes))
        )
    return replace(state, tables=tuple(tables), decisions=tuple(decisions))

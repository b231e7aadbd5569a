"""Rule: turn each home into a :class:`PlanTable` with its columns, key and sources.

Generated columns come first: the discriminator of a merged table (text, not null), the
surrogate key of a keyless parent or merged table, and a child table's parent key and
position. A merged table's columns are the union of its sources' columns; a column missing
from some source is nullable there, and shared columns take the type that holds both.
A table filled from one SQLite table whose ``INTEGER PRIMARY KEY`` was declared
``AUTOINCREMENT`` keeps it (``PlanTable.autoincrement``), so the unified table never reuses a
deleted highest key either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from dbfold.design.coltypes import unify_types
from dbfold.design.options import DesignOptions
from dbfold.design.render_sql import integer_key
from dbfold.design.state import Draft, Home, SourceKey, State, store_stem, unique_name
from dbfold.plan import PlanColumn, PlanTable, Source

RULE = "assemble"

_SQLITE = Dialect.get_or_raise("sqlite")
_QUOTED = (TokenType.STRING, TokenType.IDENTIFIER)


def declares_autoincrement(sql: str | None) -> bool:
    """Whether a ``CREATE TABLE`` declares AUTOINCREMENT (the keyword, not a name or string).

    SQLite allows the keyword only right after the ``PRIMARY KEY`` of an ``INTEGER`` column,
    so its presence says which column it is: the table's one integer key.

    >>> declares_autoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, x)")
    True
    >>> declares_autoincrement('''CREATE TABLE t (id INTEGER PRIMARY KEY, "autoincrement",
    ...     note TEXT DEFAULT 'AUTOINCREMENT', [autoincrement ] INT, `AUTOINCREMENT` INT)''')
    False
    """
    if not sql:
        return False
    try:
        tokens = _SQLITE.tokenize(sql)
    except TokenError:
        return False
    return any(t.text.upper() == "AUTOINCREMENT" and t.token_type not in _QUOTED for t in tokens)


def _autoincrement(home: Home, pk: tuple[str, ...], columns: list[PlanColumn]) -> bool:
    """Keep AUTOINCREMENT: one SQLite table (not merged, not an array) keyed by its integer key."""
    if home.discriminator or len(home.drafts) != 1 or len(pk) != 1:
        return False
    d = home.drafts[0]
    if d.array is not None or d.surrogate or d.parent_column or d.table.layout != "table":
        return False
    key = next((c for c in columns if c.name.casefold() == pk[0].casefold()), None)
    if key is None or key.type != "integer":
        return False
    field = next((f for f in d.fields if f.name.casefold() == pk[0].casefold()), None)
    return (
        field is not None
        and field.path == field.column.name
        and declares_autoincrement(d.table.sql)
    )


def _discriminator_values(drafts: tuple[Draft, ...]) -> dict[str, str]:
    """Store stem per store, or the store path where two merged stores share a stem."""
    stems = [store_stem(d.store) for d in drafts]
    dup = {s.casefold() for s in stems if [x.casefold() for x in stems].count(s.casefold()) > 1}
    return {
        d.store: (d.store if s.casefold() in dup else s) for d, s in zip(drafts, stems, strict=True)
    }


def _table(
    home: Home, parent_keys: dict[SourceKey, PlanColumn], kept: Mapping[frozenset[SourceKey], bool]
) -> PlanTable:
    first = home.drafts[0]
    pk = first.primary_key
    generated: list[PlanColumn] = []
    unique: tuple[tuple[str, ...], ...] = ()
    surrogate = first.surrogate
    if home.discriminator:
        generated.append(PlanColumn(name=home.discriminator, type="text", nullable=False))
        if pk:
            pk = (home.discriminator, *pk)
        else:
            surrogate = unique_name("id", [f.name for d in home.drafts for f in d.fields])
    if surrogate:
        generated.append(PlanColumn(name=surrogate, type="integer", nullable=False))
    if first.parent_column and first.position_column:
        parent = parent_keys[first.parent] if first.parent else None
        ptype = parent.type if parent else "integer"
        generated.append(PlanColumn(name=first.parent_column, type=ptype, nullable=False))
        generated.append(PlanColumn(name=first.position_column, type="integer", nullable=False))
        pair = (first.parent_column, first.position_column)
        if surrogate:
            unique = (pair,)
        else:
            pk = pair
    if surrogate:
        pk = (surrogate,)
    columns: dict[str, PlanColumn] = {}
    seen_in: dict[str, int] = {}
    colls: dict[str, dict[str, None]] = {}  # the collations each column's sources use
    for d in home.drafts:
        for f in d.fields:
            low = f.name.casefold()
            seen_in[low] = seen_in.get(low, 0) + 1
            colls.setdefault(low, {})[f.collation or "BINARY"] = None
            col = PlanColumn(
                name=f.name,
                type=f.type,
                nullable=f.nullable,
                default=f.default,
                declared=f.declared,
                note=f.note,
                collation=f.collation,
            )
            prev = columns.get(low)
            if prev is not None:
                typ = unify_types(prev.type, col.type) or "blob"
                declared = prev.declared if prev.declared == col.declared else None
                col = replace(
                    prev,
                    type=typ,
                    nullable=prev.nullable or col.nullable,
                    declared=declared,
                    default=prev.default if prev.default == col.default else None,
                    note=prev.note or col.note,
                )
            columns[low] = col
    for low, used in colls.items():
        if len(used) > 1:
            # One column, one collation: BINARY, and the note asks the user to choose.
            differ = (
                f"its sources compare it with different collations ({', '.join(used)}):"
                ' BINARY here; set "collation" to the one the queries need'
            )
            c = columns[low]
            note = differ if c.note is None else f"{c.note}; {differ}"
            columns[low] = replace(c, collation=None, note=note)
    merged = list(columns.values())
    if len(home.drafts) > 1:
        # A column some sources lack is NULL for their rows.
        merged = [
            c if seen_in[c.name.casefold()] == len(home.drafts) else replace(c, nullable=True)
            for c in merged
        ]
    pk_low = {p.casefold() for p in pk}
    all_cols = [replace(c, primary_key=c.name.casefold() in pk_low) for c in (*generated, *merged)]
    values = _discriminator_values(home.drafts)
    sources = tuple(
        Source(
            store=d.store,
            table=d.table.name,
            columns={f.path: f.name for f in d.fields},
            discriminator=home.discriminator,
            value=values[d.store] if home.discriminator else None,
            array=d.array,
            parent_column=d.parent_column,
            position_column=d.position_column,
            surrogate=surrogate,
        )
        for d in home.drafts
    )
    table = PlanTable(
        name=home.name,
        columns=tuple(all_cols),
        primary_key=pk,
        autoincrement=_autoincrement(home, pk, all_cols),
        unique=unique,
        sources=sources,
    )
    # A previous plan's choice (perhaps the user's edit) stands while the key allows it.
    wanted = kept.get(home.keys)
    if (
        wanted is not None
        and wanted != table.autoincrement
        and (not wanted or integer_key(table) is not None)
    ):
        table = replace(table, autoincrement=wanted)
    return table


def assemble_tables(state: State, options: DesignOptions) -> State:
    """Build the plan's tables from the homes (parents before their children)."""
    parent_keys: dict[SourceKey, PlanColumn] = {}
    tables: list[PlanTable] = []
    for home in state.homes:
        table = _table(home, parent_keys, state.edits.autoincrement)
        tables.append(table)
        if len(table.primary_key) == 1:
            key_col = table.column(table.primary_key[0])
            assert key_col is not None
            for d in home.drafts:
                parent_keys[d.key] = key_col
    return replace(state, tables=tuple(tables))

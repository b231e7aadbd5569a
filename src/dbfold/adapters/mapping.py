"""What one legacy store looks like from the unified database: names, keys, discriminators.

Everything here is derived from the plan (and, when given, the analysis, for the legacy
``CREATE TABLE`` text and ``user_version``). A :class:`StoreMap` is immutable apart from its
translation cache and is shared by every connection to the same store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dbfold.model import Analysis, Store
from dbfold.plan import Plan, PlanTable, Source, split_path
from dbfold.runtime.backend import quote_ident

__all__ = ["StoreMap", "TableMap", "literal", "store_kind"]


def literal(value: str) -> str:
    """Quote a string as an SQL literal.

    >>> literal("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


def _fold(name: str) -> str:
    # SQLite compares identifiers case-insensitively for ASCII letters only.
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class TableMap:
    """One legacy table and the unified table that now holds its rows.

    Attributes:
        legacy: The table's name in the legacy store.
        target: The unified table.
        columns: ``(legacy column, target column)`` pairs in legacy order.
        discriminator: The column marking this store's rows in a merged table, or None.
        value: The discriminator value of this store.
        key: The legacy integer primary key (a rowid alias), as a legacy column name.
        generate_key: The target keeps ``key`` in a composite key with the discriminator, so
            the adapter computes the next key of this source on inserts that omit it.
        plain: The target table has exactly the legacy columns under the legacy names and no
            discriminator, so reads need no derived table (a rename at most).
        declared: ``(legacy column, declared type, nullable, default)`` for the shadow schema.
        sql: The legacy ``CREATE TABLE`` statement when the analysis recorded it.
    """

    legacy: str
    target: str
    columns: tuple[tuple[str, str], ...]
    discriminator: str | None = None
    value: str | None = None
    key: str | None = None
    generate_key: bool = False
    plain: bool = False
    declared: tuple[tuple[str, str, bool, str | None], ...] = ()
    sql: str | None = None
    _by_legacy: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_legacy.update({_fold(a): b for a, b in self.columns})

    def target_column(self, legacy_column: str) -> str | None:
        """The target column holding ``legacy_column`` (case-insensitive), or None."""
        return self._by_legacy.get(_fold(legacy_column))

    def has_column(self, legacy_column: str) -> bool:
        """Whether the legacy table has this column (as far as the plan carries it)."""
        return _fold(legacy_column) in self._by_legacy

    @property
    def qtarget(self) -> str:
        """The target table, quoted."""
        return quote_ident(self.target)

    def filter_sql(self, qualifier: str | None = None) -> str:
        """``"disc" = 'value'`` (qualified when asked), or an empty string."""
        if self.discriminator is None:
            return ""
        col = quote_ident(self.discriminator)
        if qualifier:
            col = f"{qualifier}.{col}"
        return f"{col} = {literal(self.value or '')}"

    def derived_sql(self) -> str:
        """A subquery that shows the target rows of this store under legacy names."""
        cols = ", ".join(
            quote_ident(t) if t == lg else f"{quote_ident(t)} AS {quote_ident(lg)}"
            for lg, t in self.columns
        )
        where = f" WHERE {self.filter_sql()}" if self.discriminator else ""
        return f"(SELECT {cols} FROM {self.qtarget}{where})"

    def next_key_sql(self, offset: int | str = 1) -> str:
        """A scalar subquery giving the next key of this source (plus ``offset - 1``)."""
        key = quote_ident(self.target_column(self.key or "") or "")
        return (
            f"(SELECT COALESCE(MAX({key}), 0) + {offset} FROM {self.qtarget} "
            f"WHERE {self.filter_sql()})"
        )

    def shadow_sql(self) -> str:
        """A ``CREATE TABLE`` that reproduces the legacy table's shape."""
        if self.sql:
            return self.sql
        parts = []
        for name, declared, nullable, default in self.declared:
            piece = quote_ident(name)
            if declared:
                piece += f" {declared}"
            if self.key is not None and _fold(name) == _fold(self.key):
                piece += " PRIMARY KEY"
            if not nullable:
                piece += " NOT NULL"
            if default is not None:
                piece += f" DEFAULT ({default})"
            parts.append(piece)
        return f"CREATE TABLE {quote_ident(self.legacy)} ({', '.join(parts)})"


def store_kind(store: str, analysis: Analysis | None) -> str | None:
    """The store's kind from the analysis (``sqlite``, ``json`` …), or None if unknown."""
    if analysis is None:
        return None
    try:
        return analysis.store(store).kind
    except KeyError:
        return None


def _table_map(table: PlanTable, source: Source, legacy: Store | None) -> TableMap | None:
    pairs: list[tuple[str, str]] = []
    for path, target in source.columns.items():
        parts = split_path(path)
        if len(parts) != 1:
            return None  # a nested JSON path: not a SQL table
        pairs.append((parts[0], target))
    disc = source.discriminator
    pk = [c for c in table.primary_key if c != disc]
    key: str | None = None
    by_target = {t: lg for lg, t in pairs}
    if len(pk) == 1 and pk[0] in by_target:
        col = table.column(pk[0])
        if col is not None and col.type == "integer":
            key = by_target[pk[0]]
    target_names = [c.name for c in table.columns]
    plain = disc is None and [t for _, t in pairs] == target_names and all(a == b for a, b in pairs)
    declared: list[tuple[str, str, bool, str | None]] = []
    for lg, t in pairs:
        col = table.column(t)
        if col is None:
            declared.append((lg, "", True, None))
        else:
            declared.append((lg, col.declared or col.type.upper(), col.nullable, col.default))
    sql = None
    if legacy is not None:
        found = next((lt for lt in legacy.tables if lt.name == source.table), None)
        sql = found.sql if found is not None else None
    return TableMap(
        legacy=source.table,
        target=table.name,
        columns=tuple(pairs),
        discriminator=disc,
        value=source.value if disc is not None else None,
        key=key,
        generate_key=disc is not None and key is not None,
        plain=plain,
        declared=tuple(declared),
        sql=sql,
    )


class StoreMap:
    """The legacy view of one store: its tables, a shadow schema, a translation cache.

    Args:
        plan: The plan.
        store: The store's path as the plan names it (relative, POSIX).
        analysis: Optional; gives the exact legacy ``CREATE TABLE`` text and user_version.

    >>> from dbfold.plan import PlanColumn
    >>> t = PlanTable(name="t", columns=(PlanColumn("id", "integer"),), primary_key=("id",),
    ...               sources=(Source("a.db", "t", {"id": "id"}),))
    >>> StoreMap(Plan(tables=(t,)), "a.db").table("T").plain
    True
    """

    def __init__(self, plan: Plan, store: str, analysis: Analysis | None = None) -> None:
        self.plan = plan
        self.store = store
        legacy: Store | None = None
        if analysis is not None:
            try:
                legacy = analysis.store(store)
            except KeyError:
                legacy = None
        self.user_version = legacy.sqlite.user_version if legacy and legacy.sqlite else 0
        self.application_id = 0
        tables: dict[str, TableMap] = {}
        for table in plan.tables:
            for source in table.sources:
                if source.store != store or source.array is not None:
                    continue
                mapped = _table_map(table, source, legacy)
                if mapped is not None:
                    tables.setdefault(_fold(mapped.legacy), mapped)
        self.tables = tables
        self.targets = {_fold(t.target) for t in tables.values()}
        self._shadow: sqlite3.Connection | None = None
        self._shadow_lock = threading.Lock()
        self._indexes = self._legacy_indexes(legacy)
        self.translator: Any = None  # set by the rewrite module (keeps imports one-way)

    def table(self, name: str) -> TableMap | None:
        """The legacy table called ``name`` (ASCII case-insensitive), or None."""
        return self.tables.get(_fold(name))

    def _legacy_indexes(self, legacy: Store | None) -> list[str]:
        if legacy is not None:
            out = [
                ix.sql
                for t in legacy.tables
                if _fold(t.name) in self.tables
                for ix in t.indexes
                if ix.sql and ix.origin == "c"
            ]
            return out
        out = []
        for mapped in self.tables.values():
            table = self.plan.table(mapped.target)
            if table is None:
                continue
            back = {t: lg for lg, t in mapped.columns}
            for ix in table.indexes:
                if not all(c in back for c in ix.columns):
                    continue
                cols = ", ".join(quote_ident(back[c]) for c in ix.columns)
                unique = "UNIQUE " if ix.unique else ""
                out.append(
                    f"CREATE {unique}INDEX {quote_ident(ix.name)} "
                    f"ON {quote_ident(mapped.legacy)} ({cols})"
                )
        return out

    def shadow_statements(self) -> Iterable[str]:
        """The legacy schema as SQL: every mapped table, then its indexes."""
        yield from (t.shadow_sql() for t in self.tables.values())
        yield from self._indexes

    def shadow_query(self, sql: str, params: Any = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run ``sql`` on an empty in-memory copy of the legacy schema (sqlite_master,
        PRAGMA table_info …); returns column names and rows. Errors are sqlite3's own."""
        with self._shadow_lock:
            if self._shadow is None:
                conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
                for statement in self.shadow_statements():
                    try:
                        conn.execute(statement)
                    except sqlite3.Error:
                        continue  # an odd legacy statement: the table stays out of the shadow
                self._shadow = conn
            cursor = self._shadow.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return names, cursor.fetchall()

    def check_syntax(self, sql: str) -> None:
        """Raise sqlite3's own error if ``sql`` does not even prepare on the legacy schema."""
        try:
            self.shadow_query("EXPLAIN " + sql)
        except sqlite3.ProgrammingError:
            return  # prepared fine; only the parameters were missing

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

from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import TokenError
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from dbfold.model import Analysis, Store
from dbfold.plan import Plan, PlanTable, Source, split_path
from dbfold.provenance import trigger_statements
from dbfold.quoting import literal
from dbfold.runtime.backend import quote_ident

__all__ = ["SEQUENCE_TABLE", "StoreMap", "TableMap", "store_kind"]

#: Where the adapters keep the AUTOINCREMENT high-water mark of each merged legacy table,
#: per (unified table, source): what ``sqlite_sequence`` did in the legacy file.
SEQUENCE_TABLE = "dbfold_adapter_sequence"
SEQUENCE_DDL = (
    f'CREATE TABLE IF NOT EXISTS "{SEQUENCE_TABLE}" ("name" TEXT NOT NULL, '
    '"source" TEXT NOT NULL, "seq" INTEGER NOT NULL, PRIMARY KEY ("name", "source"))'
)


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
        autoincrement: The legacy key was declared ``AUTOINCREMENT`` (a generated key then
            also stays above every key this source ever used; see :meth:`trigger_sql`).
        provenance: The statements making the TEMP triggers (and the TEMP table they use)
            that record this source's writes in ``dbfold_adapter_writes`` (see
            :mod:`dbfold.provenance`).
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
    autoincrement: bool = False
    provenance: tuple[str, ...] = ()
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

    def key_base_sql(self) -> str:
        """A scalar subquery: the highest key of this source (for AUTOINCREMENT, the highest
        it ever used, as SQLite's ``max(largest rowid, sqlite_sequence) + 1``)."""
        key = quote_ident(self.target_column(self.key or "") or "")
        top = f"COALESCE(MAX({key}), 0)"
        if self.autoincrement:
            top = f"MAX({top}, COALESCE(({self._seq_sql()}), 0))"
        return f"(SELECT {top} FROM {self.qtarget} WHERE {self.filter_sql()})"

    def next_key_sql(self, offset: int | str = 1) -> str:
        """A scalar subquery giving the next key of this source (plus ``offset - 1``)."""
        return f"({self.key_base_sql()} + {offset})"

    def _seq_sql(self) -> str:
        return (
            f'SELECT "seq" FROM "{SEQUENCE_TABLE}" WHERE "name" = {literal(self.target)} '
            f'AND "source" = {literal(self.value or "")}'
        )

    def trigger_sql(self) -> str:
        """A TEMP trigger (one per legacy connection) that records every key an INSERT of
        this source tries, as SQLite's AUTOINCREMENT does: before the conflict check, so an
        ignored or upserted row counts too, and undone with the statement if it fails."""
        key = quote_ident(self.target_column(self.key or "") or "")
        disc = quote_ident(self.discriminator or "")
        name = quote_ident(f"dbfold_seq_{self.target}_{self.value}")
        return (
            f"CREATE TEMP TRIGGER IF NOT EXISTS {name} BEFORE INSERT ON main.{self.qtarget} "
            f"WHEN NEW.{disc} = {literal(self.value or '')} AND NEW.{key} IS NOT NULL BEGIN "
            f'INSERT INTO "{SEQUENCE_TABLE}" ("name", "source", "seq") '
            f"VALUES ({literal(self.target)}, {literal(self.value or '')}, NEW.{key}) "
            f'ON CONFLICT ("name", "source") DO UPDATE SET "seq" = MAX("seq", excluded."seq"); '
            "END"
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
    # A SQLite source's columns are named verbatim ("a.b" is one column); a file's are
    # field paths, and a nested one is no SQL table.
    verbatim = legacy is None or legacy.kind == "sqlite"
    for path, target in source.columns.items():
        parts = (path,) if verbatim else split_path(path)
        if len(parts) != 1:
            return None
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
        autoincrement=disc is not None and key is not None and _autoincrement(sql),
        provenance=tuple(trigger_statements(table, source)),
    )


_DIALECT = Dialect.get_or_raise("sqlite")


def _autoincrement(sql: str | None) -> bool:
    """Whether a ``CREATE TABLE`` declares AUTOINCREMENT (a keyword, not a name or string).

    >>> _autoincrement('CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, "autoincrement")')
    True
    >>> _autoincrement("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT DEFAULT 'autoincrement')")
    False
    """
    if not sql:
        return False
    try:
        tokens = _DIALECT.tokenize(sql)
    except TokenError:
        return "AUTOINCREMENT" in sql.upper()
    quoted = (TokenType.STRING, TokenType.IDENTIFIER)
    return any(t.text.upper() == "AUTOINCREMENT" and t.token_type not in quoted for t in tokens)


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
                if ix.where is not None or ix.expressions:
                    # A partial or expression index named in target columns; rebuilt from
                    # its columns alone it would be stricter than the source's, so the
                    # shadow schema leaves it out.
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

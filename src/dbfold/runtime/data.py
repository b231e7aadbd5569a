"""Table helpers: insert, update, upsert, delete, get/find, soft deletes.

Each write helper has a ``*_sql()`` twin (as in sqlite-utils) that returns the statement and
its parameters without running it, so a dry run costs nothing. Every identifier is quoted,
so table and column names with spaces, quotes, unicode or SQL keywords work.

Soft deletes apply to tables with a ``deleted_at`` column: :meth:`DataMixin.soft_delete`
stamps it, :meth:`DataMixin.restore` clears it, :meth:`DataMixin.purge` removes stamped rows
for good, and the reading helpers (:meth:`DataMixin.get`, :meth:`DataMixin.find`,
:meth:`DataMixin.all`, :meth:`DataMixin.count`) leave stamped rows out unless called with
``include_deleted=True``. Plain :meth:`query` is SQL and filters nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from dbfold.errors import RuntimeDatabaseError, SchemaError
from dbfold.runtime.backend import quote_ident
from dbfold.runtime.jsoncols import Row, TableInfo, decode_rows
from dbfold.runtime.timeutil import cutoff_iso, now_iso

Params = Sequence[Any]
Where = Mapping[str, Any] | int | str


@lru_cache(maxsize=1024)
def insert_statement(table: str, columns: tuple[str, ...]) -> str:
    """The INSERT of one row into ``table`` naming ``columns``, built once per shape.

    The text depends on the names alone, never on the schema, so a cached statement is
    never stale; what the schema decides (JSON columns, rowid) comes from ``table_info``.

    >>> insert_statement("items", ("name", "data"))
    'INSERT INTO "items" ("name", "data") VALUES (?, ?)'
    """
    if not columns:
        return f"INSERT INTO {quote_ident(table)} DEFAULT VALUES"
    names = ", ".join(quote_ident(name) for name in columns)
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {quote_ident(table)} ({names}) VALUES ({marks})"


@lru_cache(maxsize=1024)
def returning_statement(sql: str, key: str) -> str:
    """``sql`` returning the new row's key (PostgreSQL has no rowid to ask for later)."""
    return f"{sql} RETURNING {quote_ident(key)}"


class DataMixin(ABC):
    """CRUD and soft-delete helpers built on a few primitives of the database class."""

    #: True on PostgreSQL: new keys come back through RETURNING (there is no rowid).
    _pg: bool = False

    @abstractmethod
    def _write(self, sql: str, params: Params) -> Any:
        """Run one write statement under the write lock; return the cursor."""

    @abstractmethod
    def _write_rows(self, sql: str, params: Params) -> Any:
        """Run one write statement returning rows; fetch them under the lock."""

    @abstractmethod
    def _select(self, sql: str, params: Params) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        """Run one query; return column names and raw rows."""

    @abstractmethod
    def table_info(self, table: str) -> TableInfo:
        """Describe a table (columns, JSON columns, key, soft-delete support)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """Open a (nested) transaction."""

    # -- statements ---------------------------------------------------------------------

    def insert_sql(self, table: str, /, **values: Any) -> tuple[str, list[Any]]:
        """Build the INSERT for one row without running it.

        >>> # db.insert_sql("items", name="x")
        >>> # ('INSERT INTO "items" ("name") VALUES (?)', ['x'])
        """
        info = self.table_info(table)
        return insert_statement(info.name, tuple(values)), info.encode(values)

    def update_sql(self, table: str, where: Where, /, **values: Any) -> tuple[str, list[Any]]:
        """Build the UPDATE for rows matching ``where`` (a dict of equalities or a row id)."""
        if not values:
            raise RuntimeDatabaseError(f"update of {table!r} has no values; pass column=value")
        info = self.table_info(table)
        sets = ", ".join(f"{quote_ident(name)} = ?" for name in values)
        clause, params = self._where(info, where)
        return f"UPDATE {quote_ident(info.name)} SET {sets}{clause}", info.encode(values) + params

    def upsert_sql(
        self, table: str, key: str | Sequence[str], /, **values: Any
    ) -> tuple[str, list[Any]]:
        """Build an INSERT … ON CONFLICT (key) DO UPDATE for one row.

        The key columns need a PRIMARY KEY or UNIQUE constraint, as SQLite requires.
        """
        keys = [key] if isinstance(key, str) else list(key)
        missing = [name for name in keys if name not in values]
        if missing:
            raise RuntimeDatabaseError(
                f"upsert into {table!r} lacks key value(s) {', '.join(missing)}; pass them too"
            )
        sql, params = self.insert_sql(table, **values)
        target = ", ".join(quote_ident(name) for name in keys)
        rest = [name for name in values if name not in keys]
        if rest:
            sets = ", ".join(f"{quote_ident(n)} = excluded.{quote_ident(n)}" for n in rest)
            sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        else:
            sql += f" ON CONFLICT ({target}) DO NOTHING"
        return sql, params

    def _where(self, info: TableInfo, where: Where | None) -> tuple[str, list[Any]]:
        if where is None:
            return "", []
        if not isinstance(where, Mapping):
            return f" WHERE {quote_ident(info.key_column)} = ?", [where]
        if not where:
            return "", []
        parts = [
            f"{quote_ident(name)} IS NULL" if value is None else f"{quote_ident(name)} = ?"
            for name, value in where.items()
        ]
        params = info.encode({k: v for k, v in where.items() if v is not None})
        return " WHERE " + " AND ".join(parts), params

    # -- writes -------------------------------------------------------------------------

    def insert(self, table: str, /, **values: Any) -> int | None:
        """Insert one row and return its rowid (``None`` for WITHOUT ROWID tables).

        Dicts and lists bound for ``JSON`` columns are stored as JSON text.
        """
        info = self.table_info(table)
        sql = insert_statement(info.name, tuple(values))
        if self._pg:
            if info.primary_key is None:
                self._write(sql, info.encode(values))
                return None
            returning = returning_statement(sql, info.primary_key)
            row = self._write(returning, info.encode(values)).fetchone()
            return None if row is None else row[0]
        rowid: int | None = self._write(sql, info.encode(values)).lastrowid
        return rowid if info.has_rowid else None

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Any]], /) -> int:
        """Insert many rows in one transaction; returns how many were inserted."""
        count = 0
        with self.transaction():
            for row in rows:
                sql, params = self.insert_sql(table, **row)
                self._write(sql, params)
                count += 1
        return count

    def update(self, table: str, where: Where, /, **values: Any) -> int:
        """Update rows matching ``where`` (dict of equalities, or a row id); returns rowcount."""
        sql, params = self.update_sql(table, where, **values)
        count: int = self._write(sql, params).rowcount
        return count

    def upsert(self, table: str, key: str | Sequence[str], /, **values: Any) -> int | None:
        """Insert a row, or update the existing row with the same key; returns its rowid.

        Args:
            table: The table.
            key: The key column(s); they need a PRIMARY KEY or UNIQUE constraint.
            **values: Column values, key columns included.
        """
        sql, params = self.upsert_sql(table, key, **values)
        info = self.table_info(table)
        if not info.has_rowid:
            self._write(sql, params)
            return None
        rowid = quote_ident(info.primary_key) if self._pg and info.primary_key else "rowid"
        cursor = self._write_rows(f"{sql} RETURNING {rowid}", params)
        row = cursor.fetchone()
        if row is not None:
            return row[0]  # type: ignore[no-any-return]
        # DO NOTHING returns no row: look the existing one up by its key.
        keys = [key] if isinstance(key, str) else list(key)
        clause, where = self._where(info, {k: values[k] for k in keys})
        _, rows = self._select(f"SELECT {rowid} FROM {quote_ident(info.name)}{clause}", where)
        return rows[0][0] if rows else None

    def delete(self, table: str, where: Where, /) -> int:
        """Delete rows for good (``where``: dict of equalities or a row id); returns rowcount."""
        info = self.table_info(table)
        clause, params = self._where(info, where)
        if not clause:
            raise RuntimeDatabaseError(
                f"delete from {table!r} without a condition; pass a condition or use purge()"
            )
        count: int = self._write(f"DELETE FROM {quote_ident(info.name)}{clause}", params).rowcount
        return count

    # -- reads --------------------------------------------------------------------------

    def find(
        self,
        table: str,
        /,
        *,
        where: Mapping[str, Any] | None = None,
        include_deleted: bool = False,
        order_by: str | None = None,
        limit: int | None = None,
        **equals: Any,
    ) -> list[Row]:
        """Rows whose columns equal the given values; soft-deleted rows left out by default.

        Args:
            table: The table.
            where: Equalities for columns whose names clash with this method's keywords.
            include_deleted: Also return soft-deleted rows.
            order_by: A column to sort by (prefix ``-`` for descending).
            limit: At most this many rows.
            **equals: Column equalities (``None`` matches NULL).
        """
        info = self.table_info(table)
        clause, params = self._where(info, {**(where or {}), **equals})
        if info.soft_delete and not include_deleted:
            clause += " AND " if clause else " WHERE "
            clause += '"deleted_at" IS NULL'
        sql = f"SELECT * FROM {quote_ident(info.name)}{clause}"
        if order_by:
            desc = order_by.startswith("-")
            sql += f" ORDER BY {quote_ident(order_by.lstrip('-'))}{' DESC' if desc else ''}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        names, rows = self._select(sql, params)
        positions = [pos for pos, name in enumerate(names) if name.lower() in info.json_columns]
        return decode_rows(names, rows, positions)

    def all(self, table: str, /, *, include_deleted: bool = False) -> list[Row]:
        """Every row of a table (soft-deleted ones only with ``include_deleted=True``)."""
        return self.find(table, include_deleted=include_deleted)

    def get(self, table: str, row_id: Any, /, *, include_deleted: bool = False) -> Row | None:
        """The row with this primary key (or rowid), or ``None``."""
        info = self.table_info(table)
        rows = self.find(
            table, where={info.key_column: row_id}, include_deleted=include_deleted, limit=1
        )
        return rows[0] if rows else None

    def count(self, table: str, /, *, include_deleted: bool = False, **equals: Any) -> int:
        """How many rows match (soft-deleted ones only with ``include_deleted=True``)."""
        info = self.table_info(table)
        clause, params = self._where(info, equals)
        if info.soft_delete and not include_deleted:
            clause += (" AND " if clause else " WHERE ") + '"deleted_at" IS NULL'
        _, rows = self._select(f"SELECT count(*) FROM {quote_ident(info.name)}{clause}", params)
        return int(rows[0][0])

    def iter_rows(self, table: str, /, *, include_deleted: bool = False) -> Iterator[Row]:
        """Iterate over :meth:`all` (convenience for ``for row in db.iter_rows(t)``)."""
        yield from self.all(table, include_deleted=include_deleted)

    # -- soft deletes -------------------------------------------------------------------

    def _soft(self, table: str) -> TableInfo:
        info = self.table_info(table)
        if not info.soft_delete:
            raise SchemaError(
                f"table {table!r} has no deleted_at column; add 'deleted_at TEXT' to it in "
                "get_schema() to use soft deletes"
            )
        return info

    def soft_delete(self, table: str, row_id: Any, /) -> bool:
        """Stamp ``deleted_at`` on one row; returns False if it was missing or already deleted.

        Raises:
            SchemaError: If the table has no ``deleted_at`` column.
        """
        info = self._soft(table)
        cursor = self._write(
            f'UPDATE {quote_ident(info.name)} SET "deleted_at" = ? '
            f'WHERE {quote_ident(info.key_column)} = ? AND "deleted_at" IS NULL',
            (now_iso(), row_id),
        )
        return bool(cursor.rowcount)

    def restore(self, table: str, row_id: Any, /) -> bool:
        """Clear ``deleted_at`` on one row; returns False if it was not soft-deleted."""
        info = self._soft(table)
        cursor = self._write(
            f'UPDATE {quote_ident(info.name)} SET "deleted_at" = NULL '
            f'WHERE {quote_ident(info.key_column)} = ? AND "deleted_at" IS NOT NULL',
            (row_id,),
        )
        return bool(cursor.rowcount)

    def purge(self, table: str, /, older_than: timedelta | datetime = timedelta(0)) -> int:
        """Delete for good the rows soft-deleted before a moment (or longer ago than a span).

        Args:
            table: A table with a ``deleted_at`` column.
            older_than: A :class:`~datetime.timedelta` (deleted longer ago than this) or a
                :class:`~datetime.datetime` (deleted before it; naive means UTC). The default
                purges every soft-deleted row.

        Returns:
            How many rows were removed.
        """
        info = self._soft(table)
        cursor = self._write(
            f"DELETE FROM {quote_ident(info.name)} "
            f'WHERE "deleted_at" IS NOT NULL AND "deleted_at" <= ?',
            (cutoff_iso(older_than),),
        )
        count: int = cursor.rowcount
        return count


__all__ = ["DataMixin", "Where", "insert_statement"]

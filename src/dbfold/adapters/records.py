"""``JsonStore`` and ``JsonlLog``: JSON and JSON Lines files, backed by their unified tables.

For code that changes one line (``EventLog(path)`` → ``JsonlLog("logs/events.jsonl", …)``):
records go in and come out as the file held them, nested objects rebuilt from the plan's
source paths (``meta.author`` → ``{"meta": {"author": …}}``), arrays of records that became
child tables put back in order, JSON columns decoded and booleans restored.

A field that was ``null`` and a field that was missing read back the same way: absent.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dbfold.adapters.connection import ForkedConnectionError
from dbfold.errors import AdapterError
from dbfold.model import Analysis
from dbfold.plan import Plan, PlanTable, Source, split_path
from dbfold.provenance import install, trigger_statements
from dbfold.runtime.backend import quote_ident
from dbfold.sqlitefiles import inherited_at_fork

__all__ = ["JsonStore", "JsonlLog"]

_Path = tuple[str, ...]


class _Shape:
    """How one record set of a file store maps to its unified table (and child tables)."""

    def __init__(self, plan: Plan, store: str, table: str | None) -> None:
        found: list[tuple[PlanTable, Source]] = [
            (t, s)
            for t in plan.tables
            for s in t.sources
            if s.store == store and s.array is None and (table is None or s.table == table)
        ]
        if not found:
            raise AdapterError(f"{store} has no record set {table or ''} in the plan".strip())
        if len(found) > 1:
            names = ", ".join(s.table for _, s in found)
            raise AdapterError(f"{store} holds several record sets ({names}); pass table=")
        self.table, self.source = found[0]
        self.store = store
        self.fields: list[tuple[_Path, str]] = [
            (split_path(p), c) for p, c in self.source.columns.items()
        ]
        self.types = {c.name: c.type for c in self.table.columns}
        self.children: list[tuple[PlanTable, Source]] = [
            (t, s)
            for t in plan.tables
            for s in t.sources
            if s.store == store and s.table == self.source.table and s.array is not None
        ]
        pk = [c for c in self.table.primary_key if c != self.source.discriminator]
        self.parent_key = self.source.surrogate or (pk[0] if len(pk) == 1 else None)

    def where(self) -> tuple[str, tuple[Any, ...]]:
        if self.source.discriminator is None:
            return "", ()
        return f" WHERE {quote_ident(self.source.discriminator)} = ?", (self.source.value,)


def _encode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "json" or isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=False)
    if isinstance(value, bool):
        return int(value)
    return value


def _decode(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if kind == "boolean" and isinstance(value, int):
        return bool(value)
    return value


def _get(record: Mapping[str, Any], path: _Path) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _put(record: dict[str, Any], path: _Path, value: Any) -> None:
    node = record
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _leaves(record: Mapping[str, Any], prefix: _Path = ()) -> Iterator[_Path]:
    for key, value in record.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path


#: Connections a forked child inherited: kept referenced so they are never closed there.
_INHERITED: list[sqlite3.Connection] = []


def _fork_text(path: Path, opener: str) -> str:
    return (
        f"{path} was opened before fork in {opener}; open the store after the fork, or use "
        "the multiprocessing 'spawn' start method"
    )


class _Backed:
    def __init__(
        self,
        store: str,
        plan: Plan,
        target: str | os.PathLike[str],
        table: str | None = None,
        analysis: Analysis | None = None,
    ) -> None:
        self.shape = _Shape(plan, store, table)
        self.path = Path(target)
        if not self.path.exists():
            raise AdapterError(f"unified database {self.path} does not exist; migrate first")
        if inherited_at_fork(self.path):
            raise ForkedConnectionError(_fork_text(self.path, "the parent process"))
        self._pid = os.getpid()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # What this store writes from now on is recorded, for verify and incremental migrate.
        install(
            self.conn,
            (
                statement
                for t in plan.tables
                for s in t.sources
                if s.store == store and s.table == self.shape.source.table
                for statement in trigger_statements(t, s)
            ),
        )
        self.layout = "records"
        self.key: str | None = None
        legacy = None
        if analysis is not None:
            try:
                legacy = next(
                    t for t in analysis.store(store).tables if t.name == self.shape.source.table
                )
            except (KeyError, StopIteration):
                legacy = None
        if legacy is not None:
            self.layout = legacy.layout
            self.key = legacy.key
        elif self.shape.source.surrogate is None:
            pk = [c for c in self.shape.table.primary_key if c != self.shape.source.discriminator]
            back = {c: p for p, c in self.shape.fields}
            if len(pk) == 1 and pk[0] in back and len(back[pk[0]]) == 1:
                self.layout, self.key = "map", back[pk[0]][0]
        if self.layout in ("tinydb", "kv"):
            self.layout = "map"

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection to the unified database, refused in a child forked after it opened.

        A forked child has none of SQLite's locks on it (howtocorrupt §2.7), so its writes
        could be lost.
        """
        if os.getpid() != self._pid:
            raise ForkedConnectionError(_fork_text(self.path, f"process {self._pid}"))
        return self._conn

    def close(self) -> None:
        """Close the connection to the unified database (in a forked child: only forget it)."""
        if os.getpid() != self._pid:
            _INHERITED.append(self._conn)  # closing it here could delete the parent's WAL
            return
        self._conn.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------

    def _order(self) -> str:
        s = self.shape
        return quote_ident(s.source.surrogate) if s.source.surrogate else "rowid"

    def _rows(self) -> Iterator[tuple[Any, dict[str, Any]]]:
        s = self.shape
        cols = [c for _, c in s.fields]
        extra = [s.parent_key] if s.parent_key and s.parent_key not in cols else []
        select = ", ".join(quote_ident(c) for c in cols + extra) or "NULL"
        where, params = s.where()
        sql = f"SELECT {select} FROM {quote_ident(s.table.name)}{where} ORDER BY {self._order()}"
        children = self._children()
        for row in self.conn.execute(sql, params):
            record: dict[str, Any] = {}
            for (path, col), value in zip(s.fields, row, strict=False):
                value = _decode(value, s.types.get(col, "text"))
                if value is not None:
                    _put(record, path, value)
            parent = row[cols.index(s.parent_key)] if s.parent_key in cols else row[-1]
            for array, items in children.items():
                if parent in items:
                    _put(record, array, items[parent])
            yield parent, record

    def _children(self) -> dict[_Path, dict[Any, list[Any]]]:
        out: dict[_Path, dict[Any, list[Any]]] = {}
        for table, src in self.shape.children:
            if not src.parent_column or not src.position_column or src.array is None:
                continue
            fields = [(split_path(p), c) for p, c in src.columns.items()]
            types = {c.name: c.type for c in table.columns}
            cols = ", ".join(quote_ident(c) for _, c in fields) or "NULL"
            sql = (
                f"SELECT {quote_ident(src.parent_column)}, {cols} FROM {quote_ident(table.name)} "
                f"ORDER BY {quote_ident(src.parent_column)}, {quote_ident(src.position_column)}"
            )
            items: dict[Any, list[Any]] = {}
            for row in self.conn.execute(sql):
                item: dict[str, Any] = {}
                for (path, col), value in zip(fields, row[1:], strict=False):
                    value = _decode(value, types.get(col, "text"))
                    if value is not None:
                        if path == ("",):
                            item = value  # an array of scalars: the element itself
                        else:
                            _put(item, path, value)
                items.setdefault(row[0], []).append(item)
            out[split_path(src.array)] = items
        return out

    # -- writing ----------------------------------------------------------------------------

    def _insert(self, record: Mapping[str, Any], key: Any = None) -> None:
        s = self.shape
        if not isinstance(record, Mapping):
            raise AdapterError(
                f"{s.store}: a record must be an object, not {type(record).__name__}"
            )
        known = {p for p, _ in s.fields}
        arrays = {split_path(src.array) for _, src in s.children if src.array}
        for leaf in _leaves(record):
            if (
                leaf not in known
                and leaf not in arrays
                and not any(leaf[: len(k)] == k for k in known)
            ):
                raise AdapterError(
                    f"{s.store}: field {'.'.join(leaf)!r} has no column in "
                    f"{s.table.name!r}; add it to the plan"
                )
        values: dict[str, Any] = {}
        for path, col in s.fields:
            value = key if key is not None and path == (self.key,) else _get(record, path)
            values[col] = _encode(value, s.types.get(col, "text"))
        if s.source.discriminator:
            values[s.source.discriminator] = s.source.value
        table = quote_ident(s.table.name)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if s.source.surrogate and values.get(s.source.surrogate) is None:
                where, params = s.where()
                sur = quote_ident(s.source.surrogate)
                (nxt,) = self.conn.execute(
                    f"SELECT COALESCE(MAX({sur}), 0) + 1 FROM {table}{where}", params
                ).fetchone()
                values[s.source.surrogate] = nxt
            cols = ", ".join(quote_ident(c) for c in values)
            marks = ", ".join("?" for _ in values)
            cur = self.conn.execute(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(values.values())
            )
            parent = values.get(s.parent_key) if s.parent_key else cur.lastrowid
            for child, src in s.children:
                if not src.array or not src.parent_column or not src.position_column:
                    continue
                items = _get(record, split_path(src.array)) or []
                fields = [(split_path(p), c) for p, c in src.columns.items()]
                types = {c.name: c.type for c in child.columns}
                for pos, item in enumerate(items):
                    row: dict[str, Any] = {src.parent_column: parent, src.position_column: pos}
                    for path, col in fields:
                        raw = item if path == ("",) else _get(item, path)
                        row[col] = _encode(raw, types.get(col, "text"))
                    names = ", ".join(quote_ident(c) for c in row)
                    self.conn.execute(
                        f"INSERT INTO {quote_ident(child.name)} ({names}) "
                        f"VALUES ({', '.join('?' for _ in row)})",
                        tuple(row.values()),
                    )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        s = self.shape
        where, params = s.where()
        (n,) = self.conn.execute(
            f"SELECT COUNT(*) FROM {quote_ident(s.table.name)}{where}", params
        ).fetchone()
        return int(n)


class JsonStore(_Backed):
    """A JSON (or TinyDB) record set as the file held it: a list of records or a mapping.

    Args:
        store: The store as the plan names it (``data/users.json``).
        plan: The plan.
        target: The unified database file.
        table: The record set, for stores holding several (TinyDB tables).
        analysis: Optional; tells the file's layout (list or mapping) for certain. Without
            it a record set with a surrogate key is a list, one keyed by a field a mapping.
    """

    def load(self) -> list[Any] | dict[str, Any]:
        """The whole record set, as ``json.load`` of the file would have returned it."""
        if self.layout == "map":
            out: dict[str, Any] = {}
            for _, record in self._rows():
                key = record.pop(self.key, None) if self.key else None
                out[str(key)] = record
            return out
        return [record for _, record in self._rows()]

    def __iter__(self) -> Iterator[Any]:
        data = self.load()
        return iter(data)

    def __getitem__(self, key: Any) -> Any:
        return self.load()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.load()

    def append(self, record: Mapping[str, Any]) -> None:
        """Add a record to a list store."""
        if self.layout == "map":
            raise AdapterError(f"{self.shape.store} is a mapping; use store[key] = record")
        self._insert(record)

    def __setitem__(self, key: str, record: Mapping[str, Any]) -> None:
        """Add (or replace) the record under ``key`` of a mapping store."""
        if self.layout != "map" or self.key is None:
            raise AdapterError(f"{self.shape.store} is a list; use append(record)")
        if key in self.load():
            del self[key]
        self._insert(record, key=key)

    def __delitem__(self, key: str) -> None:
        if self.layout != "map" or self.key is None:
            raise AdapterError(f"{self.shape.store} is a list; records have no keys")
        s = self.shape
        col = next(c for p, c in s.fields if p == (self.key,))
        where, params = s.where()
        cond = f"{quote_ident(col)} = ?"
        sql_where = f"{where} AND {cond}" if where else f" WHERE {cond}"
        with_key = (*params, key)
        cur = self.conn.execute(f"DELETE FROM {quote_ident(s.table.name)}{sql_where}", with_key)
        if cur.rowcount == 0:
            raise KeyError(key)


class JsonlLog(_Backed):
    """A JSON Lines log: append records, iterate them in order.

    Args:
        store: The store as the plan names it (``logs/events.jsonl``).
        plan: The plan.
        target: The unified database file.
    """

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record (an object)."""
        self._insert(record)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (record for _, record in self._rows())

    def read(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first (as reading the file line by line)."""
        return iter(self)

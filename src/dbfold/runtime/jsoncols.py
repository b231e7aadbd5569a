"""Rows, table metadata and the JSON column codec.

A column declared with type ``JSON`` stores every non-NULL value as JSON text, so any JSON
value (object, array, string, number, boolean) comes back exactly as written, and SQLite's
JSON functions (``json_extract(col, '$.key')``) work on it directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from dbfold.errors import RuntimeDatabaseError

# orjson reads integers beyond 64 bits as floats; such texts go through the stdlib instead.
_BIG_INT = re.compile(r"\d{19,}")


def dump_json(value: Any) -> str:
    """Encode one value as compact JSON text.

    Args:
        value: Any JSON-serializable value (dicts, lists, str, numbers, bools, datetimes).

    Returns:
        The JSON text.

    Raises:
        RuntimeDatabaseError: If the value cannot be represented as JSON.

    >>> dump_json({"a": [1, True, None]})
    '{"a":[1,true,null]}'
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        pass  # integers beyond 64 bits or an unknown type: the stdlib is slower but wider
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RuntimeDatabaseError(
            f"value {value!r:.60} cannot be stored as JSON ({exc}); pass JSON-compatible data"
        ) from exc


def load_json(text: str) -> Any:
    """Decode JSON text written by :func:`dump_json`; non-JSON text is returned unchanged.

    Legacy rows may hold plain text in a JSON column; returning it as-is keeps them readable.

    >>> load_json('{"a":1}'), load_json("plain")
    ({'a': 1}, 'plain')
    """
    try:
        if len(text) > 18 and _BIG_INT.search(text):
            return json.loads(text)
        return orjson.loads(text)
    except ValueError:
        return text


class Row:
    """One result row, readable by index (``row[0]``) and by column name (``row["id"]``).

    Names are matched exactly first, then case-insensitively (as SQLite does). ``dict(row)``
    and :meth:`as_dict` give a plain dict; a row equals a tuple holding the same values.
    """

    __slots__ = ("_columns", "_index", "_values")

    def __init__(self, columns: Columns, values: Sequence[Any]) -> None:
        self._columns = columns
        self._index = columns.index
        self._values = tuple(values)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            pos = self._index.get(key)
            if pos is None:
                pos = self._index.get(key.lower())
                if pos is None:
                    raise KeyError(key)
            return self._values[pos]
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of column ``key``, or ``default`` when there is no such column."""
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        """Column names in result order."""
        return list(self._columns.names)

    def as_dict(self) -> dict[str, Any]:
        """The row as a ``{column: value}`` dict."""
        return dict(zip(self.keys(), self._values, strict=False))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values
        if isinstance(other, tuple):
            return self._values == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Row({self.as_dict()!r})"


class Columns:
    """Result column names shared by every :class:`Row` of one result."""

    __slots__ = ("index", "names")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        # Exact names win over lower-case aliases; the first of duplicate names wins.
        self.index: dict[str, int] = {}
        for pos, name in enumerate(self.names):
            self.index.setdefault(name, pos)
        for pos, name in enumerate(self.names):
            self.index.setdefault(name.lower(), pos)


@dataclass(frozen=True)
class TableInfo:
    """What the data helpers need to know about one table.

    Attributes:
        name: The table name as declared.
        columns: Column names in declaration order (generated columns included).
        json_columns: Lower-cased names of columns declared ``JSON``.
        primary_key: The single primary-key column, or ``None`` (then ``rowid`` is used).
        soft_delete: Whether the table has a ``deleted_at`` column.
        has_rowid: False for ``WITHOUT ROWID`` tables.
    """

    name: str
    columns: tuple[str, ...]
    json_columns: frozenset[str]
    primary_key: str | None
    soft_delete: bool
    has_rowid: bool

    @property
    def key_column(self) -> str:
        """The column ``get``/``update``/``soft_delete`` use to find a row by id."""
        return self.primary_key or "rowid"

    def encode(self, values: Mapping[str, Any]) -> list[Any]:
        """Return the values in order, JSON-encoding those bound for JSON columns."""
        json_columns = self.json_columns
        if not json_columns:
            return list(values.values())
        out: list[Any] = []
        for name, value in values.items():
            if value is not None and (name in json_columns or name.lower() in json_columns):
                value = dump_json(value)
            elif isinstance(value, _CONTAINERS):
                raise RuntimeDatabaseError(
                    f"column {self.name}.{name} is not declared JSON; declare it with type "
                    "JSON to store dicts and lists"
                )
            out.append(value)
        return out


# What the driver cannot bind and the runtime binds as JSON text (a tuple: faster for
# isinstance than a union).
_CONTAINERS = (dict, list)


def is_json_type(declared: str) -> bool:
    """Tell whether a declared column type means "JSON column" (``JSON``, ``json``, ``JSONB``)."""
    return declared.strip().upper() in ("JSON", "JSONB")


@lru_cache(maxsize=256)
def columns_for(names: tuple[str, ...]) -> Columns:
    """The shared :class:`Columns` of a result with these names (built once per shape)."""
    return Columns(names)


def decode_rows(
    names: Sequence[str], rows: Sequence[Sequence[Any]], json_positions: Sequence[int]
) -> list[Row]:
    """Wrap raw tuples in :class:`Row`, decoding JSON text at the given positions."""
    index = columns_for(tuple(names))
    if not json_positions:
        return [Row(index, values) for values in rows]
    out: list[Row] = []
    for values in rows:
        decoded = list(values)
        for pos in json_positions:
            value = decoded[pos]
            if type(value) is str:
                decoded[pos] = load_json(value)
        out.append(Row(index, decoded))
    return out


def encode_params(params: Any) -> Any:
    """Bind dicts and lists as JSON text (the driver cannot bind them at all)."""
    if type(params) is not tuple and type(params) is not list and isinstance(params, Mapping):
        if any(isinstance(v, _CONTAINERS) for v in params.values()):
            return {k: dump_json(v) if isinstance(v, _CONTAINERS) else v for k, v in params.items()}
        return params
    for value in params:
        if isinstance(value, _CONTAINERS):
            return [dump_json(v) if isinstance(v, _CONTAINERS) else v for v in params]
    return params


class Result:
    """What :meth:`UnifiedDatabase.execute` returns: a cursor-like, fully read result.

    Attributes:
        rowcount: Rows changed (DB-API semantics; -1 for queries).
        lastrowid: The rowid of the last inserted row.
        rows: Every row the statement returned.
        description: DB-API column description, ``None`` for statements without rows.
    """

    __slots__ = ("_pos", "description", "lastrowid", "rowcount", "rows")

    def __init__(
        self, rowcount: int, lastrowid: int | None, rows: list[Any], description: Any
    ) -> None:
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.rows = rows
        self.description = description
        self._pos = 0

    def fetchone(self) -> Any:
        """The next row, or ``None``."""
        if self._pos >= len(self.rows):
            return None
        self._pos += 1
        return self.rows[self._pos - 1]

    def fetchall(self) -> list[Any]:
        """The remaining rows."""
        rest, self._pos = self.rows[self._pos :], len(self.rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


__all__ = [
    "Columns",
    "Result",
    "Row",
    "TableInfo",
    "columns_for",
    "decode_rows",
    "dump_json",
    "encode_params",
    "is_json_type",
    "load_json",
]

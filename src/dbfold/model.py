"""Frozen dataclasses shared by the stages, and their JSON form.

The analysis (``.dbfold/analysis.json``, format ``dbfold.analysis/1``) is the contract between
``analyze`` and everything after it. Every class here is immutable; collections are tuples, and
``to_json``/``from_json`` round-trip a value exactly.

>>> col = Column(name="id", type="INTEGER", nullable=False, primary_key=True)
>>> Column.from_dict(col.to_dict()) == col
True
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import orjson

ANALYSIS_FORMAT = "dbfold.analysis/1"

#: Store kinds, as the contract spells them.
STORE_KINDS = ("sqlite", "json", "jsonl", "csv", "tinydb", "shelve", "dbm", "pickle")

#: Value types observed in record stores (JSON, JSONL, CSV, TinyDB).
VALUE_TYPES = ("null", "boolean", "integer", "real", "text", "blob", "object", "array")

T = TypeVar("T", bound="Serializable")


class Serializable:
    """Mixin: dataclass ↔ plain JSON-able dict, driven by the field type hints.

    Fields named in ``OMIT_DEFAULT`` are left out of :meth:`to_dict` while they hold their
    default: a field added later then changes no JSON written before it existed (files,
    golden copies, hashes), and older readers never meet it where it is unused.
    """

    OMIT_DEFAULT: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """Return a plain dict of JSON-able values (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name in self.OMIT_DEFAULT and _is_default(f, value):
                continue
            out[f.name] = _dump(value)
        return out

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Build an instance from :meth:`to_dict` output; unknown keys are ignored."""
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _load(hints[f.name], data[f.name])
        return cls(**kwargs)

    def to_json(self, *, indent: bool = True) -> bytes:
        """Serialise to JSON bytes (sorted keys are not used: field order is meaningful)."""
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self.to_dict(), option=option)

    @classmethod
    def from_json(cls: type[T], raw: bytes | str) -> T:
        """Parse JSON produced by :meth:`to_json`."""
        return cls.from_dict(orjson.loads(raw))


def _is_default(f: dataclasses.Field[Any], value: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return bool(value == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(value == f.default_factory())
    return False


def _dump(value: Any) -> Any:
    if isinstance(value, Serializable):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_dump(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    return value


def _load(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        return _load(non_none[0], value) if len(non_none) == 1 else value
    if origin is tuple:
        item = args[0] if args else Any
        return tuple(_load(item, v) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        vt = args[1] if len(args) == 2 else Any
        return {k: _load(vt, v) for k, v in value.items()}
    if isinstance(hint, type) and issubclass(hint, Serializable):
        return hint.from_dict(value)
    return value


@dataclass(frozen=True)
class Problem(Serializable):
    """Something wrong with a file, said so that the user can act on it.

    ``path`` is relative to the project root (POSIX); ``line`` is 1-based where it applies.
    """

    path: str
    message: str
    severity: str = "error"  # "error" (data could not be read) or "warning"
    line: int | None = None


@dataclass(frozen=True)
class Skipped(Serializable):
    """A file that looks like data but is tool configuration, or is otherwise not a store."""

    path: str
    reason: str


@dataclass(frozen=True)
class Column(Serializable):
    """A column of a SQLite table, or a field of a record set (JSON, JSONL, CSV, TinyDB).

    ``type`` is the declared type for SQLite columns and the inferred type for record fields
    (one of :data:`VALUE_TYPES` other than ``null``, or ``mixed`` when values disagree).
    ``observed`` counts the values of record fields by type; SQLite columns leave it empty
    (analyze reads their declarations, not every value: ``dbfold design`` probes the values).
    ``fields`` holds the sub-fields of nested objects (and of the objects inside arrays).
    ``hints`` flags what a designer should know: ``id``, ``timestamp``, ``mixed_types``,
    ``late``, and ``generated`` for a SQLite generated column.
    """

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    default: str | None = None
    present: int | None = None  # records in which the field occurs (record sets only)
    observed: Mapping[str, int] = field(default_factory=dict)
    fields: tuple[Column, ...] = ()
    hints: tuple[str, ...] = ()
    #: The collation a SQLite column compares with when it is not BINARY (``NOCASE``,
    #: ``RTRIM``, or the name of one the owning program registers), as SQLite reports it.
    collation: str | None = None

    OMIT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"collation"})


@dataclass(frozen=True)
class ForeignKey(Serializable):
    """A declared foreign key of a SQLite table."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"


@dataclass(frozen=True)
class Index(Serializable):
    """An index of a SQLite table (``origin``: ``c`` created, ``u`` unique constraint, ``pk``).

    ``where`` is a partial index's predicate and ``expressions`` the key terms of an index
    with an expression among them (every term, in ``columns`` order, where ``columns`` says
    ``<expression>``), both as SQLite SQL over the source's column names, read from the
    index's CREATE statement. Each is written only when set (so analyses of other indexes do
    not change) and unset when the statement cannot be parsed.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    origin: str = "c"
    partial: bool = False
    sql: str | None = None
    #: The collation of each key column, in ``columns`` order; empty when all are BINARY.
    collations: tuple[str, ...] = ()
    where: str | None = None
    expressions: tuple[str, ...] = ()

    OMIT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"collations", "where", "expressions"})


@dataclass(frozen=True)
class Table(Serializable):
    """A table of a store: a SQLite table or a record set of a file store.

    ``layout`` says how a record set sits in its file: ``records`` (array of objects),
    ``rows`` (array of arrays, positional columns), ``map`` (id → record object; the id is
    the column named by ``key``), ``document`` (one object), ``lines`` (JSONL), ``csv``,
    ``tinydb`` (one TinyDB table: id → document), ``kv`` (shelve/dbm key → value).
    For SQLite tables it is ``table``.
    """

    name: str
    rows: int
    columns: tuple[Column, ...] = ()
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    layout: str = "table"
    key: str | None = None
    sql: str | None = None
    without_rowid: bool = False


@dataclass(frozen=True)
class View(Serializable):
    """A SQLite view or trigger, kept as its SQL."""

    name: str
    sql: str
    table: str | None = None  # the table a trigger belongs to


@dataclass(frozen=True)
class SqliteInfo(Serializable):
    """Page-level facts about a SQLite store."""

    page_size: int
    page_count: int
    freelist_count: int
    journal_mode: str
    user_version: int
    wal_bytes: int = 0
    wal_pending: bool = False  # a -wal file holds frames not yet checkpointed
    encoding: str = "UTF-8"


@dataclass(frozen=True)
class Store(Serializable):
    """One data store found in the project tree."""

    path: str
    kind: str
    bytes: int
    tables: tuple[Table, ...] = ()
    problems: tuple[Problem, ...] = ()
    reclaimable_bytes: int = 0
    sqlite: SqliteInfo | None = None
    views: tuple[View, ...] = ()
    triggers: tuple[View, ...] = ()
    encoding: str | None = None  # text stores: utf-8, utf-8-sig …
    dialect: Mapping[str, str] = field(default_factory=dict)  # CSV: delimiter, quotechar

    @property
    def rows(self) -> int:
        """Total rows over all tables."""
        return sum(t.rows for t in self.tables)


@dataclass(frozen=True)
class StoreUse(Serializable):
    """One call in the code that opens a store.

    ``expression`` is the path argument as written; ``resolved`` is the static value where
    it could be computed; ``store`` is the matched store's path and ``matched_from`` the base
    folder it matched against (``root``, ``file``, or a relative folder between them).
    """

    api: str
    line: int
    expression: str
    resolved: str | None = None
    store: str | None = None
    matched_from: str | None = None


@dataclass(frozen=True)
class Interface(Serializable):
    """A class, function or module in the project's code that uses stores."""

    name: str
    kind: str  # "class", "function", "module"
    path: str
    line: int
    stores: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    uses: tuple[StoreUse, ...] = ()


@dataclass(frozen=True)
class Analysis(Serializable):
    """Everything ``analyze`` found under a project root."""

    FORMAT: ClassVar[str] = ANALYSIS_FORMAT

    root: str
    stores: tuple[Store, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    problems: tuple[Problem, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    format: str = ANALYSIS_FORMAT

    def store(self, path: str) -> Store:
        """Return the store at ``path`` (relative POSIX path); KeyError if absent."""
        for s in self.stores:
            if s.path == path:
                return s
        raise KeyError(path)

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        """Top-level problems and every store's problems."""
        return self.problems + tuple(p for s in self.stores for p in s.problems)

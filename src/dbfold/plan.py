"""The plan: the unified schema as data (``.dbfold/plan.json``, format ``dbfold.plan/1``).

The plan is the one file a user edits. Everything after ``design`` (``unified.sql``, the
generated code, the migration, the adapters) is derived from it, so every fact those stages
need is spelled out here rather than recomputed from the analysis.

Column types are dialect-neutral (:data:`NEUTRAL_TYPES`); a renderer maps them to a dialect.
A source's ``columns`` map goes from a *source path* to a target column. A path is a field
name, or for nested JSON objects the field names joined by ``.`` (``meta.author``); a literal
``.`` or ``\\`` inside a field name is escaped with a backslash (:func:`join_path`).

>>> t = PlanTable(name="users", columns=(PlanColumn(name="id", type="integer"),))
>>> Plan.from_json(Plan(tables=(t,)).to_json()) == Plan(tables=(t,))
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dbfold.model import Serializable

PLAN_FORMAT = "dbfold.plan/1"
DEFAULT_TARGET = "data/unified.db"

#: The dialect-neutral column types a plan may use.
NEUTRAL_TYPES = ("integer", "real", "text", "blob", "boolean", "timestamp", "json", "numeric")


@dataclass(frozen=True)
class PlanColumn(Serializable):
    """A column of a unified table.

    ``declared`` is the source's declared type where there was one (SQLite), so a reader can
    see what the neutral ``type`` came from; ``note`` says anything unusual (mixed values,
    values that disagree with the declared type).
    """

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    default: str | None = None
    declared: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class PlanForeignKey(Serializable):
    """A foreign key between unified tables (target names, not source names)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"


@dataclass(frozen=True)
class PlanIndex(Serializable):
    """An index of a unified table; ``note`` says where it came from."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Source(Serializable):
    """Where the rows of a unified table come from: one table (or record set) of one store.

    ``columns`` maps source paths to target columns. Merged tables name the ``discriminator``
    column and the ``value`` that marks this source's rows. A child table made from an array
    of records names the ``array`` path inside each parent record, the ``parent_column`` that
    holds the parent's key and the ``position_column`` that holds the element's index.
    ``surrogate`` names a target column that the migration fills with a row number (1-based,
    in source order) because the source has no key of its own.
    """

    store: str
    table: str
    columns: Mapping[str, str] = field(default_factory=dict)
    discriminator: str | None = None
    value: str | None = None
    array: str | None = None
    parent_column: str | None = None
    position_column: str | None = None
    surrogate: str | None = None


@dataclass(frozen=True)
class PlanTable(Serializable):
    """A table of the unified database and the sources that fill it.

    ``autoincrement`` keeps a SQLite source's ``INTEGER PRIMARY KEY AUTOINCREMENT``: the
    key is declared ``AUTOINCREMENT`` in the unified table too, so a deleted highest key is
    never handed out again. Only a table keyed by one integer column honours it (design sets
    it only for a table filled from one such source; merged tables emulate it per source).
    """

    name: str
    columns: tuple[PlanColumn, ...] = ()
    primary_key: tuple[str, ...] = ()
    autoincrement: bool = False
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[PlanForeignKey, ...] = ()
    indexes: tuple[PlanIndex, ...] = ()
    sources: tuple[Source, ...] = ()

    def column(self, name: str) -> PlanColumn | None:
        """Return the column called ``name`` (compared case-insensitively), or None."""
        low = name.casefold()
        return next((c for c in self.columns if c.name.casefold() == low), None)


@dataclass(frozen=True)
class PlanView(Serializable):
    """A view or trigger carried over from a SQLite source, its SQL rewritten to target names."""

    name: str
    sql: str
    store: str
    source_name: str


@dataclass(frozen=True)
class Exclusion(Serializable):
    """Something of a source that the plan does not carry over, and why.

    ``kind`` is ``table``, ``column``, ``view`` or ``trigger``; ``column`` is set for a
    column exclusion. ``by`` is ``design`` for exclusions the rules made and ``user`` for
    those written by hand, so a re-run of ``design`` knows which to keep.
    """

    store: str
    table: str
    reason: str
    kind: str = "table"
    column: str | None = None
    by: str = "user"


@dataclass(frozen=True)
class Decision(Serializable):
    """What a rule decided and why, in words a person reads in the report."""

    rule: str
    subject: str
    text: str


@dataclass(frozen=True)
class Suggestion(Serializable):
    """An optional change the user may accept by setting ``accepted`` to true.

    The only kind so far is ``foreign_key``: ``table.columns`` → ``ref_table.ref_columns``.
    """

    id: str
    kind: str
    text: str
    accepted: bool = False
    table: str = ""
    columns: tuple[str, ...] = ()
    ref_table: str = ""
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan(Serializable):
    """The unified schema and how to fill it: the content of ``plan.json``."""

    format: str = PLAN_FORMAT
    target: str = DEFAULT_TARGET
    tables: tuple[PlanTable, ...] = ()
    views: tuple[PlanView, ...] = ()
    triggers: tuple[PlanView, ...] = ()
    excluded: tuple[Exclusion, ...] = ()
    decisions: tuple[Decision, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    notes: tuple[str, ...] = ()

    def table(self, name: str) -> PlanTable | None:
        """Return the table called ``name`` (compared case-insensitively), or None."""
        low = name.casefold()
        return next((t for t in self.tables if t.name.casefold() == low), None)

    @property
    def stores(self) -> tuple[str, ...]:
        """Every store path the plan reads from (sources and exclusions), in first-seen order."""
        seen = dict.fromkeys(
            [s.store for t in self.tables for s in t.sources] + [e.store for e in self.excluded]
        )
        return tuple(seen)


def escape_key(key: str) -> str:
    r"""Escape one field name for use inside a source path.

    >>> escape_key("a.b"), escape_key("plain")
    ('a\\.b', 'plain')
    """
    return key.replace("\\", "\\\\").replace(".", "\\.")


def join_path(*keys: str) -> str:
    r"""Join field names into a source path.

    >>> join_path("meta", "author"), join_path("v1.2", "x")
    ('meta.author', 'v1\\.2.x')
    """
    return ".".join(escape_key(k) for k in keys)


def split_path(path: str) -> tuple[str, ...]:
    r"""Split a source path into field names; the inverse of :func:`join_path`.

    >>> split_path("meta.author"), split_path(r"v1\.2.x")
    (('meta', 'author'), ('v1.2', 'x'))
    """
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "\\" and i + 1 < len(path):
            cur.append(path[i + 1])
            i += 2
            continue
        if ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return tuple(parts)

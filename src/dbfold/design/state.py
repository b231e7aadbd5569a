"""The value the design rules pass along: drafts of target tables plus what was decided.

Each rule is a pure function ``(State, DesignOptions) -> State``. A :class:`Draft` is one
source record set on its way to a target table (a SQLite table, a JSON record set, or an
array of records inside one); a :class:`Home` is one target table, holding one draft or, after
a merge, several.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dbfold.model import Analysis, Column, Table
from dbfold.plan import Decision, Exclusion, Plan, PlanTable, PlanView, Suggestion

#: A source record set: (store path, table name, array path or None).
SourceKey = tuple[str, str, "str | None"]


@dataclass(frozen=True)
class Field:
    """One target column of a draft and the source path it is read from.

    ``kind`` is ``value`` (a scalar read as it is), ``json`` (the value kept as JSON text) or
    ``key`` (a map's key, which is the record's identity).
    """

    path: str
    name: str
    column: Column
    kind: str = "value"
    type: str = ""
    declared: str | None = None
    nullable: bool = True
    primary_key: bool = False
    default: str | None = None
    note: str | None = None
    collation: str | None = None


@dataclass(frozen=True)
class Draft:
    """One source record set on its way to a target table."""

    store: str
    table: Table
    fields: tuple[Field, ...]
    array: str | None = None
    parent: SourceKey | None = None
    parent_column: str | None = None
    position_column: str | None = None
    surrogate: str | None = None

    @property
    def key(self) -> SourceKey:
        """This draft's identity: (store, table, array path)."""
        return (self.store, self.table.name, self.array)

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Target names of the fields that make up this draft's key."""
        return tuple(f.name for f in self.fields if f.primary_key)


@dataclass(frozen=True)
class Home:
    """A target table: its name and the drafts that fill it (several once merged)."""

    name: str
    drafts: tuple[Draft, ...]
    discriminator: str | None = None

    @property
    def keys(self) -> frozenset[SourceKey]:
        """The source keys of every draft of this home."""
        return frozenset(d.key for d in self.drafts)


@dataclass(frozen=True)
class Edits:
    """The user's edits recalled from a previous plan (see ``rules.recall``)."""

    table_names: Mapping[frozenset[SourceKey], str] = field(default_factory=dict)
    column_names: Mapping[SourceKey, Mapping[str, str]] = field(default_factory=dict)
    excluded: Mapping[tuple[str, str], str] = field(default_factory=dict)
    partition: Mapping[SourceKey, int] = field(default_factory=dict)
    accepted: frozenset[str] = frozenset()
    #: ``autoincrement`` of each previous table, by the sources that fill it.
    autoincrement: Mapping[frozenset[SourceKey], bool] = field(default_factory=dict)


@dataclass(frozen=True)
class State:
    """Everything the rules read and write."""

    analysis: Analysis
    previous: Plan | None = None
    edits: Edits = Edits()
    homes: tuple[Home, ...] = ()
    tables: tuple[PlanTable, ...] = ()
    views: tuple[PlanView, ...] = ()
    triggers: tuple[PlanView, ...] = ()
    excluded: tuple[Exclusion, ...] = ()
    decisions: tuple[Decision, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    notes: tuple[str, ...] = ()

    def decide(self, rule: str, subject: str, text: str) -> tuple[Decision, ...]:
        """Return the decisions with one more appended (a helper for rules)."""
        return (*self.decisions, Decision(rule=rule, subject=subject, text=text))


def unique_name(wanted: str, taken: Iterable[str]) -> str:
    """``wanted``, or ``wanted_2``, ``wanted_3`` … — the first not in ``taken`` (any case).

    >>> unique_name("id", ["ID", "id_2"])
    'id_3'
    """
    low = {t.casefold() for t in taken}
    if wanted.casefold() not in low:
        return wanted
    n = 2
    while f"{wanted}_{n}".casefold() in low:
        n += 1
    return f"{wanted}_{n}"


def store_stem(path: str) -> str:
    """The file name of a store path without its extension(s): ``data/tracking.db`` → ``tracking``.

    >>> store_stem("data/tracking.db"), store_stem("a/b.tar.json"), store_stem(".hidden")
    ('tracking', 'b', '.hidden')
    """
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0] if not name.startswith(".") else name
    return stem or name


def describe(key: SourceKey) -> str:
    """A source key as people read it: ``store:table`` or ``store:table[array]``."""
    store, table, array = key
    return f"{store}:{table}" + (f"[{array}]" if array else "")

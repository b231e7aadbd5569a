"""Operations: plan → an ordered list of objects that both describe and run a migration.

As in alembic, each step is an object; as in sqlite-utils' ``*_sql()`` methods, what a dry
run shows is rendered by the very objects that run, so what is shown is what runs. The order
is: create every table (referenced tables first), copy each source (SQLite tables one by one;
a file record set in one pass that fills its table and its child tables), then indexes,
views and triggers (after the load: a carried-over trigger must not fire during the copy),
then ``PRAGMA foreign_key_check``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from dbfold.design.render_sql import create_index, create_table, integer_key, table_order
from dbfold.errors import DbfoldError
from dbfold.migrate.report import SourceResult
from dbfold.migrate.target import target_fault
from dbfold.model import Analysis, Store, Table
from dbfold.plan import Plan, PlanIndex, PlanTable, PlanView, Source, split_path
from dbfold.quoting import literal, quote

if TYPE_CHECKING:
    from dbfold.migrate.copy import Copier

FILE_KINDS = ("json", "jsonl", "csv", "tinydb")
#: Rough throughput used for the dry run's time estimate (rows per second).
RATE = {"sqlite": 1_500_000, "json": 400_000, "jsonl": 400_000, "csv": 250_000, "tinydb": 200_000}

JournalKey = tuple[str, str, str, str]


@dataclass
class Target:
    """One source filling one target table, with the exact column lists of its INSERT."""

    table: PlanTable
    source: Source
    paths: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    fill_surrogate: bool = False
    children: list[Target] = field(default_factory=list)
    rel: tuple[str, ...] = ()
    key_index: int | None = None  # index in the extracted tuple of this row's own key

    def __post_init__(self) -> None:
        mapped = set()
        for path, col in self.source.columns.items():
            self.paths.append(path)
            self.columns.append(col)
            mapped.add(col.casefold())
        s = self.source
        # A merged table's surrogate is left to SQLite (rowids stay unique across sources).
        self.fill_surrogate = bool(
            s.surrogate and not s.discriminator and s.surrogate.casefold() not in mapped
        )
        pk = self.table.primary_key
        if len(pk) == 1 and not self.fill_surrogate:
            low = pk[0].casefold()
            self.key_index = next(
                (i for i, c in enumerate(self.columns) if c.casefold() == low), None
            )

    @property
    def key(self) -> JournalKey:
        """The journal key: (store, source table, target table, array path)."""
        s = self.source
        return (s.store, s.table, self.table.name, s.array or "")

    @property
    def label(self) -> str:
        """``store:table`` or ``store:table[array]`` as people read it."""
        s = self.source
        return f"{s.store}:{s.table}" + (f"[{s.array}]" if s.array else "")

    @property
    def generated(self) -> list[str]:
        """Generated columns appended after the mapped ones, in order."""
        out = []
        if self.fill_surrogate and self.source.surrogate:
            out.append(self.source.surrogate)
        if self.source.parent_column and self.source.position_column:
            out += [self.source.parent_column, self.source.position_column]
        return out

    def insert_sql(self) -> str:
        """The parameterised INSERT of a record set (the discriminator is a literal)."""
        cols = [*self.columns, *self.generated]
        values = ["?"] * len(cols)
        s = self.source
        if s.discriminator and s.value is not None:
            cols.append(s.discriminator)
            values.append(literal(s.value))
        return (
            f"INSERT INTO main.{quote(self.table.name)} ({', '.join(map(quote, cols))})"
            f" VALUES ({', '.join(values)})"
        )

    def where_mine(self) -> tuple[str, tuple[Any, ...]]:
        """SQL condition and parameters that select this source's rows in the target."""
        s = self.source
        if s.discriminator and s.value is not None:
            return f"{quote(s.discriminator)} = ?", (s.value,)
        return "1", ()

    def result(
        self,
        status: str,
        rows: int = 0,
        total: int = 0,
        watermark: int | None = None,
        started: float | None = None,
    ) -> SourceResult:
        """What happened to this source, for the report (``started``: its perf_counter)."""
        s = self.source
        seconds = round(time.perf_counter() - started, 4) if started is not None else 0.0
        return SourceResult(
            s.store, s.table, self.table.name, status, rows, total, watermark, seconds, s.array
        )

    def renames(self) -> str:
        """The renames of the column map, for the dry run (empty when names are kept)."""
        pairs = [f"{p}→{c}" for p, c in self.source.columns.items() if p != c]
        return ", ".join(pairs)


def source_table(analysis: Analysis, store: str, table: str) -> tuple[Store, Table] | None:
    """The analysed store and table a source names, or None when the analysis lacks it."""
    try:
        st = analysis.store(store)
    except KeyError:
        return None
    t = next((t for t in st.tables if t.name == table), None)
    return None if t is None else (st, t)


def _estimate(rows: int, kind: str) -> float:
    return rows / RATE.get(kind, 200_000)


@dataclass
class CreateTable:
    """Create one target table (skipped when it exists, on an incremental run)."""

    table: PlanTable
    kind: str = "create"

    def describe(self) -> str:
        pk = f", key ({', '.join(self.table.primary_key)})" if self.table.primary_key else ""
        return f"create table {self.table.name} ({len(self.table.columns)} columns{pk})"

    def sql(self) -> str:
        return create_table(self.table).replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)

    def run(self, copier: Copier) -> None:
        """Create the table; one that SQLite refuses is reported and left out, not fatal."""
        try:
            sql = self.sql()
        except DbfoldError as exc:
            copier.refuse(self.table.name, f"cannot be rendered ({exc})")
            return
        con = copier.con
        con.execute("SAVEPOINT dbfold_create")
        try:
            con.execute(sql)
        except sqlite3.DatabaseError as exc:
            con.execute("ROLLBACK TO dbfold_create")
            con.execute("RELEASE dbfold_create")
            if target_fault(con, exc):
                raise
            copier.refuse(self.table.name, f"cannot be created in SQLite ({exc})")
            return
        con.execute("RELEASE dbfold_create")


@dataclass
class CopySqlite:
    """Copy one SQLite table through ATTACH and ``INSERT … SELECT``."""

    target: Target
    store: Store
    source: Table
    kind: str = "copy"

    @property
    def rows(self) -> int:
        return self.source.rows

    def describe(self) -> str:
        t, s = self.target, self.target.source
        text = f"copy {self.rows:,} rows from {s.store}:{s.table} (INSERT … SELECT via ATTACH)"
        if t.renames():
            text += f"; rename {t.renames()}"
        if s.discriminator:
            text += f"; {s.discriminator} = {s.value!r}"
        return text

    @property
    def rowid(self) -> str | None:
        """The name that reaches the source table's real rowid, or None if none does.

        A column named ``rowid``, ``_rowid_`` or ``oid`` hides that name (SQLite then means
        the column), so the first name no column takes is used; a WITHOUT ROWID table, or
        one whose columns take all three, has none and is copied whole.
        """
        if self.source.without_rowid:
            return None
        taken = {c.name.casefold() for c in self.source.columns}
        return next((n for n in ("rowid", "_rowid_", "oid") if n not in taken), None)

    def select_sql(self, lo: bool = True) -> str:
        """The INSERT … SELECT this copy runs (inclusive rowid bounds as parameters)."""
        t, s = self.target, self.target.source
        rowid = self.rowid
        cols = list(t.columns)
        exprs = [f"src.{quote(s.table)}.{quote(p)}" for p in t.paths]
        if t.fill_surrogate and s.surrogate:
            cols.append(s.surrogate)
            exprs.append(rowid or "NULL")  # no rowid to reach: SQLite numbers the rows
        if s.discriminator and s.value is not None:
            cols.append(s.discriminator)
            exprs.append(literal(s.value))
        # Inclusive bounds: callers pass (after + 1, upto), so the lowest rowid, -2**63,
        # never needs a bound below it.
        where = f" WHERE {rowid} >= ? AND {rowid} <= ?" if lo and rowid else ""
        return (
            f"INSERT INTO main.{quote(t.table.name)} ({', '.join(map(quote, cols))})"
            f" SELECT {', '.join(exprs)} FROM src.{quote(s.table)}{where}"
        )

    def run(self, copier: Copier) -> None:
        copier.copy_sqlite(self)


def unfaithful_key(con: sqlite3.Connection, op: CopySqlite) -> str | None:
    """Why the source's key values cannot be kept by a target whose key is the rowid.

    SQLite renumbers a NULL given to an ``INTEGER PRIMARY KEY`` and refuses text there, so
    a source key that is no rowid alias (``INT PRIMARY KEY``, ``integer auto_increment``)
    and holds such values would not arrive as it is (a plan from before the key was read
    right, or a hand edit). A source whose key is itself the rowid is not read again.
    The source is ATTACH'd to ``con`` as ``src``.
    """
    t, s = op.target, op.target.source
    key = integer_key(t.table)
    if key is None:
        return None
    low = key.name.casefold()
    path = next((p for p, c in zip(t.paths, t.columns, strict=True) if c.casefold() == low), None)
    if path is None:
        return None
    col = next((c for c in op.source.columns if c.name == path), None)
    if (
        col is not None
        and col.primary_key
        and not col.nullable
        and col.type.strip().upper() == "INTEGER"
        and not op.source.without_rowid
        and len(op.source.primary_key) == 1
    ):
        return None
    q = quote(path)
    nulls, others = con.execute(
        f"SELECT coalesce(sum({q} IS NULL), 0),"
        f" coalesce(sum(typeof({q}) NOT IN ('integer', 'null')), 0)"
        f" FROM src.{quote(s.table)}"
    ).fetchone()
    if not nulls and not others:
        return None
    what = []
    if nulls:
        what.append(f"{nulls:,} rows with {path} NULL")
    if others:
        what.append(f"{others:,} rows whose {path} is not an integer")
    return (
        f"{' and '.join(what)}, which the target's INTEGER PRIMARY KEY {key.name} would"
        f" renumber or refuse (in {s.store} {path} is not a rowid alias); set"
        f' {t.table.name}.{key.name} "nullable": true in .dbfold/plan.json, or run'
        " `dbfold analyze` and `dbfold design` again"
    )


@dataclass
class CopyRecords:
    """Stream one file record set into its table and child tables, in one pass."""

    store: Store
    source: Table
    targets: list[Target]  # every target of the record set, parents before children
    roots: list[Target]  # targets read from the top-level records
    kind: str = "copy"

    @property
    def rows(self) -> int:
        return self.source.rows

    def describe(self) -> str:
        how = {"jsonl": "line by line (orjson)", "csv": "row by row (csv)"}.get(
            self.store.kind, "streamed in pieces (orjson, ijson fallback)"
        )
        parts = []
        for t in self.targets:
            text = t.table.name
            if t.source.array:
                text += f" (array {t.source.array})"
            if t.renames():
                text += f" renaming {t.renames()}"
            parts.append(text)
        return (
            f"copy {self.rows:,} records from {self.store.path}:{self.source.name} {how}"
            f" into {'; '.join(parts)}"
        )

    def run(self, copier: Copier) -> None:
        copier.copy_records(self)


@dataclass
class CreateIndex:
    """Build one index after the load."""

    table: str
    index: PlanIndex
    kind: str = "index"

    def describe(self) -> str:
        u = "unique " if self.index.unique else ""
        keys = self.index.expressions or self.index.columns
        where = f" where {self.index.where}" if self.index.where is not None else ""
        return f"create {u}index {self.index.name} on ({', '.join(keys)}){where}"

    def sql(self) -> str:
        return create_index(self.table, self.index, if_not_exists=True).rstrip(";")

    def run(self, copier: Copier) -> None:
        copier.con.execute(self.sql())


@dataclass
class CreateView:
    """Create a carried-over view or trigger after the load."""

    view: PlanView
    what: str = "view"
    kind: str = "view"

    @property
    def table(self) -> str:
        return ""

    def describe(self) -> str:
        return f"create {self.what} {self.view.name}"

    def run(self, copier: Copier) -> None:
        copier.create_view(self)


@dataclass
class CheckForeignKeys:
    """``PRAGMA foreign_key_check`` after the load: orphans are reported, never dropped."""

    table: str = ""
    kind: str = "check"

    def describe(self) -> str:
        return "check foreign keys (orphans reported, never dropped)"

    def run(self, copier: Copier) -> None:
        copier.check_foreign_keys()


Operation = CreateTable | CopySqlite | CopyRecords | CreateIndex | CreateView | CheckForeignKeys


def _link(targets: list[Target]) -> list[Target]:
    """Attach child targets to their parents; return the roots (top-level readers)."""
    by_parts = {tuple(split_path(t.source.array)): t for t in targets if t.source.array}
    roots = []
    for t in targets:
        if not t.source.array:
            roots.append(t)
            continue
        parts = split_path(t.source.array)
        for cut in range(len(parts) - 1, 0, -1):
            parent = by_parts.get(tuple(parts[:cut]))
            if parent is not None:
                parent.children.append(t)
                t.rel = tuple(parts[cut:])
                break
        else:
            t.rel = tuple(parts)
            top = next((r for r in targets if not r.source.array), None)
            if top is None:
                roots.append(t)  # no parent table in the plan: read from the top level
            else:
                top.children.append(t)
    return roots


def _may_be_null(table: Table, path: str) -> bool:
    """Whether the analysis saw records where ``path`` is missing or null (at any level)."""
    cols, parent_count = table.columns, table.rows
    for name in split_path(path):
        col = next((c for c in cols if c.name == name), None)
        if col is None:
            return True
        if (col.present or 0) < parent_count or col.observed.get("null", 0):
            return True
        cols, parent_count = col.fields, col.observed.get("object", 0)
    return False


def _relaxed(table: PlanTable, targets: list[Target], stable: Table) -> tuple[PlanTable, list[str]]:
    """The table with NOT NULL dropped where the analysis proves some records lack a value.

    The plan can mark a nested field NOT NULL because it is never null *inside* its object,
    although the object itself is missing from some records; inserting would then fail.
    """
    relax: dict[str, str] = {}
    for t in targets:
        if t.table.name != table.name:
            continue
        for p, c in zip(t.paths, t.columns, strict=True):
            col = table.column(c)
            if (
                col is not None
                and not col.nullable
                and not col.primary_key
                and _may_be_null(stable, p)
            ):
                relax[c.casefold()] = p
    if not relax:
        return table, []
    cols = tuple(
        replace(c, nullable=True) if c.name.casefold() in relax else c for c in table.columns
    )
    notes = [
        f"{table.name}.{c.name}: the plan says NOT NULL, but some records lack"
        f" {relax[c.name.casefold()]}; created nullable (fix it in plan.json)"
        for c in table.columns
        if c.name.casefold() in relax
    ]
    return replace(table, columns=cols), notes


def build_operations(plan: Plan, analysis: Analysis) -> tuple[list[Operation], list[str]]:
    """The ordered operations of a plan, and notes on sources the analysis does not know.

    >>> build_operations(Plan(), Analysis(root="."))
    ([CheckForeignKeys(table='', kind='check')], [])
    """
    ops: list[Operation] = [CreateTable(t) for t in table_order(plan)]
    notes: list[str] = []
    record_sets: dict[tuple[str, str], list[Target]] = {}
    for table in plan.tables:
        for src in table.sources:
            found = source_table(analysis, src.store, src.table)
            if found is None:
                notes.append(
                    f"{src.store}:{src.table}: not in the analysis; run `dbfold analyze` again"
                )
                continue
            store, stable = found
            target = Target(table, src)
            if store.kind == "sqlite":
                ops.append(CopySqlite(target, store, stable))
            else:
                record_sets.setdefault((src.store, src.table), []).append(target)
    creates = {op.table.name: op for op in ops if isinstance(op, CreateTable)}
    for (store_path, tname), targets in record_sets.items():
        found = source_table(analysis, store_path, tname)
        assert found is not None
        store, stable = found
        for t in targets:
            if t.source.array:
                continue
            create = creates[t.table.name]
            create.table, relaxed = _relaxed(create.table, targets, stable)
            notes.extend(relaxed)
        targets.sort(key=lambda t: len(split_path(t.source.array)) if t.source.array else 0)
        ops.append(CopyRecords(store, stable, targets, _link(targets)))
    for table in plan.tables:
        ops.extend(CreateIndex(table.name, ix) for ix in table.indexes)
    ops.extend(CreateView(v, "view") for v in plan.views)
    ops.extend(CreateView(v, "trigger") for v in plan.triggers)
    ops.append(CheckForeignKeys())
    return ops, notes


def estimate(ops: Sequence[Operation]) -> dict[str, tuple[int, int, float]]:
    """Per target table: (rows, bytes, seconds) the copies are expected to take."""
    out: dict[str, tuple[int, int, float]] = {}
    for op in ops:
        if isinstance(op, CopySqlite):
            names = [op.target.table.name]
            share = op.store.bytes * op.rows // max(1, op.store.rows)
        elif isinstance(op, CopyRecords):
            names = [t.table.name for t in op.roots] or [op.targets[0].table.name]
            share = op.store.bytes * op.rows // max(1, op.store.rows)
        else:
            continue
        for name in names:
            r, b, s = out.get(name, (0, 0, 0.0))
            out[name] = (r + op.rows, b + share, s + _estimate(op.rows, op.store.kind))
    return out

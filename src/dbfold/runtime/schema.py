"""Declarative schema reconciliation: make the live schema match ``get_schema()``.

The desired schema is built in a private in-memory SQLite database, then both schemas are
read back from ``sqlite_master`` and ``PRAGMA table_xinfo`` and compared object by object.
The result is a list of :class:`Step` objects that can be described (dry run) or applied.
Tables are changed with ``ALTER TABLE … ADD COLUMN`` when SQLite allows it, otherwise
rebuilt with the documented 12-step procedure (new table, copy, drop, rename) — the caller
runs the steps inside one transaction with ``PRAGMA foreign_keys=OFF`` set beforehand, so
a rebuild neither fires ``ON DELETE CASCADE`` nor loses rows, and checks
``PRAGMA foreign_key_check`` before committing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from dbfold.errors import SchemaError
from dbfold.runtime.backend import quote_ident
from dbfold.runtime.sqltext import (
    TableDef,
    normalize_sql,
    parse_create_table,
    rename_in_create,
    split_statements,
)

#: Name prefixes the reconciler never touches (the runtime's own tables, SQLite's).
RESERVED_PREFIXES = ("dbfold_", "sqlite_")


def _reserved(name: str) -> bool:
    return name.lower().startswith(RESERVED_PREFIXES)


@dataclass(frozen=True)
class LiveColumn:
    """One column as ``PRAGMA table_xinfo`` reports it."""

    name: str
    type: str
    generated: bool


@dataclass
class TableState:
    """One table of a schema snapshot."""

    name: str
    sql: str
    virtual: bool
    columns: list[LiveColumn]
    definition: TableDef | None


@dataclass
class Snapshot:
    """Every user object of one database, keyed by lower-cased name, in creation order."""

    tables: dict[str, TableState] = field(default_factory=dict)
    indexes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name, table, sql
    views: dict[str, tuple[str, str]] = field(default_factory=dict)  # name, sql
    triggers: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # name, table, sql

    @property
    def empty(self) -> bool:
        """True when the database holds no user object at all."""
        return not (self.tables or self.indexes or self.views or self.triggers)


def read_snapshot(conn: sqlite3.Connection) -> Snapshot:
    """Read the user schema of a connection (runtime and SQLite internals left out)."""
    snap = Snapshot()
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
    ).fetchall()
    virtual = {
        name.lower()
        for kind, name, _, sql in rows
        if kind == "table" and (sql or "").upper().startswith("CREATE VIRTUAL")
    }
    for kind, name, table, sql in rows:
        key = name.lower()
        if _reserved(name) or sql is None:
            continue  # internal objects, or autoindexes that belong to their table
        if kind == "table":
            # Shadow tables of a virtual table (an FTS index) belong to it.
            if any(key.startswith(v + "_") for v in virtual if v != key):
                continue
            info = conn.execute(f"PRAGMA table_xinfo({quote_ident(name)})").fetchall()
            columns = [LiveColumn(c[1], c[2] or "", c[6] in (2, 3)) for c in info]
            snap.tables[key] = TableState(
                name, sql, key in virtual, columns, parse_create_table(sql)
            )
        elif kind == "index":
            snap.indexes[key] = (name, table, sql)
        elif kind == "view":
            snap.views[key] = (name, sql)
        elif kind == "trigger":
            snap.triggers[key] = (name, table, sql)
    return snap


def desired_snapshot(script: str, owner: str) -> Snapshot:
    """Build ``script`` in a scratch in-memory database and snapshot it.

    Args:
        script: The SQL returned by ``get_schema()``.
        owner: Who declared it (``"ProjectDatabase.get_schema()"``), for error messages.

    Raises:
        SchemaError: If the SQL does not run or declares a reserved (``dbfold_``) name.
    """
    if not isinstance(script, str):
        raise SchemaError(f"{owner} returned {type(script).__name__}; return the schema as SQL")
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in split_statements(script):
            try:
                scratch.execute(statement)
            except sqlite3.Error as exc:
                raise SchemaError(
                    f"{owner} is malformed: {exc} in {' '.join(statement.split())[:80]!r}; "
                    "fix the SQL"
                ) from exc
        reserved = [
            name
            for (name,) in scratch.execute("SELECT name FROM sqlite_master")
            if name.lower().startswith("dbfold_")
        ]
        if reserved:
            raise SchemaError(
                f"{owner} declares {', '.join(reserved)}; names starting with dbfold_ are "
                "reserved for the runtime, rename them"
            )
        return read_snapshot(scratch)
    finally:
        scratch.close()


@dataclass(frozen=True)
class Step:
    """One schema change: what it does, in words and in SQL.

    Attributes:
        description: One line for reports and dry runs.
        statements: The SQL to run, in order.
    """

    description: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Loss:
    """Data a change would destroy: a whole table, or the values of one column."""

    table: str
    column: str | None
    count: int

    def __str__(self) -> str:
        if self.column is None:
            return f"table {self.table} with {self.count} rows"
        return f"column {self.table}.{self.column} with {self.count} non-null values"


@dataclass
class Plan:
    """The steps that turn the live schema into the desired one, and what they would lose."""

    steps: list[Step] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)

    def describe(self) -> list[str]:
        """The steps as one line each (a dry run)."""
        return [step.description for step in self.steps]


def _count(conn: sqlite3.Connection, sql: str) -> int:
    value = conn.execute(sql).fetchone()[0]
    return int(value)


def _copyable(table: TableState) -> dict[str, str]:
    return {c.name.lower(): c.name for c in table.columns if not c.generated}


def _table_unchanged_but_added(live: TableDef, want: TableDef) -> list[str] | None:
    """Column texts to ADD when ``want`` equals ``live`` plus new columns; else ``None``."""
    if live.constraints != want.constraints or live.options != want.options:
        return None
    added: list[str] = []
    for col in want.columns:
        have = live.column(col.name)
        if have is None:
            added.append(col.text)
        elif have.norm != col.norm:
            return None
    if any(want.column(col.name) is None for col in live.columns):
        return None
    return added


def _can_add_columns(live_sql: str, table: str, added: list[str]) -> bool:
    """Try the ADD COLUMNs on an empty copy of the table: SQLite knows its own rules."""
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        scratch.execute(live_sql)
        for text in added:
            scratch.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {text}")
        return True
    except sqlite3.Error:
        return False
    finally:
        scratch.close()


def _rebuild(live: TableState, want: TableState, want_snap: Snapshot) -> Step:
    assert want.definition is not None
    temp = f"dbfold_rebuild_{want.name}"
    quoted, qtemp = quote_ident(want.name), quote_ident(temp)
    keep_live, keep_want = _copyable(live), _copyable(want)
    common = [keep_want[key] for key in keep_want if key in keep_live]
    cols = ", ".join(quote_ident(name) for name in common)
    src_cols = ", ".join(quote_ident(keep_live[name.lower()]) for name in common)
    both_rowid = (
        live.definition is not None
        and not live.definition.without_rowid
        and not want.definition.without_rowid
    )
    if both_rowid:
        # Keep rowids stable: code may hold them even without an INTEGER PRIMARY KEY.
        cols, src_cols = (f"rowid, {cols}", f"rowid, {src_cols}") if common else ("rowid", "rowid")
    statements = [rename_in_create(want.sql, want.definition, qtemp)]
    if cols:
        statements.append(
            f"INSERT INTO {qtemp} ({cols}) SELECT {src_cols} FROM {quote_ident(live.name)}"
        )
    statements += [
        f"DROP TABLE {quote_ident(live.name)}",
        f"ALTER TABLE {qtemp} RENAME TO {quoted}",
    ]
    statements += [
        sql for _, tbl, sql in want_snap.indexes.values() if tbl.lower() == want.name.lower()
    ]
    return Step(f"rebuild table {want.name} (definition changed)", tuple(statements))


def plan_changes(conn: sqlite3.Connection, live: Snapshot, want: Snapshot) -> Plan:
    """Compare two snapshots and plan the changes, counting data any drop would lose.

    Args:
        conn: The live connection (to count rows that drops would lose).
        live: The current schema.
        want: The desired schema.

    Returns:
        The plan; applying it is the caller's job (see :func:`apply_plan`).
    """
    plan = Plan()
    creates: list[Step] = []
    alters: list[Step] = []
    rebuilt: set[str] = set()  # tables dropped and created again
    rebuilt_here: set[str] = set()  # … by a rebuild step that also recreates their indexes
    drops: list[Step] = []
    for key, table in want.tables.items():
        have = live.tables.get(key)
        if have is None:
            creates.append(Step(f"create table {table.name}", (table.sql,)))
            continue
        if table.virtual or have.virtual or not (table.definition and have.definition):
            if normalize_sql(table.sql) != normalize_sql(have.sql):
                _note_table_loss(conn, have, plan)
                drops.append(
                    Step(
                        f"recreate table {table.name}",
                        (f"DROP TABLE {quote_ident(have.name)}", table.sql),
                    )
                )
                rebuilt.add(key)
            continue
        added = _table_unchanged_but_added(have.definition, table.definition)
        if added == []:
            continue
        if added and _can_add_columns(have.sql, have.name, added):
            for text in added:
                alters.append(
                    Step(
                        f"add column {table.name}.{text.split()[0]}",
                        (f"ALTER TABLE {quote_ident(have.name)} ADD COLUMN {text}",),
                    )
                )
            continue
        want_cols = _copyable(table)
        for col in have.columns:
            if col.generated or col.name.lower() in want_cols:
                continue
            where = f"{quote_ident(col.name)} IS NOT NULL"
            count = _count(conn, f"SELECT count(*) FROM {quote_ident(have.name)} WHERE {where}")
            if count:
                plan.losses.append(Loss(have.name, col.name, count))
        alters.append(_rebuild(have, table, want))
        rebuilt.add(key)
        rebuilt_here.add(key)
    for key, table in live.tables.items():
        if key not in want.tables:
            _note_table_loss(conn, table, plan)
            drops.append(
                Step(f"drop table {table.name}", (f"DROP TABLE {quote_ident(table.name)}",))
            )

    # Views and triggers hold no data: drop changed ones and recreate them. A rebuild drops
    # them all first, because renaming a table re-checks every view and trigger.
    everything = bool(rebuilt)
    pre: list[Step] = []
    post: list[Step] = []
    for kind, live_objs, want_objs in (
        ("view", live.views, want.views),
        ("trigger", live.triggers, want.triggers),
    ):
        for key, obj in live_objs.items():
            target = want_objs.get(key)
            if everything or target is None or normalize_sql(target[-1]) != normalize_sql(obj[-1]):
                pre.append(
                    Step(f"drop {kind} {obj[0]}", (f"DROP {kind.upper()} {quote_ident(obj[0])}",))
                )
        for key, obj in want_objs.items():
            current = live_objs.get(key)
            if (
                everything
                or current is None
                or normalize_sql(current[-1]) != normalize_sql(obj[-1])
            ):
                post.append(Step(f"create {kind} {obj[0]}", (obj[-1],)))
    # Views first so triggers that select from them find them.
    post.sort(key=lambda step: not step.description.startswith("create view"))
    index_pre: list[Step] = []
    index_post: list[Step] = []
    for key, (name, owner, sql) in live.indexes.items():
        if owner.lower() in rebuilt or owner.lower() not in want.tables:
            continue  # dropped together with its table
        target = want.indexes.get(key)
        if target is None or normalize_sql(target[2]) != normalize_sql(sql):
            index_pre.append(Step(f"drop index {name}", (f"DROP INDEX {quote_ident(name)}",)))
    for key, (name, owner, sql) in want.indexes.items():
        if owner.lower() in rebuilt_here:
            continue  # the rebuild step recreated it
        current = live.indexes.get(key)
        if (
            owner.lower() in rebuilt
            or current is None
            or normalize_sql(current[2]) != normalize_sql(sql)
        ):
            index_post.append(Step(f"create index {name}", (sql,)))
    plan.steps = pre + index_pre + creates + alters + drops + index_post + post
    return plan


def _note_table_loss(conn: sqlite3.Connection, table: TableState, plan: Plan) -> None:
    rows = _count(conn, f"SELECT count(*) FROM {quote_ident(table.name)}")
    if rows:
        plan.losses.append(Loss(table.name, None, rows))


def apply_plan(conn: sqlite3.Connection, plan: Plan) -> list[str]:
    """Run every step of a plan on ``conn`` (inside the caller's transaction).

    Raises:
        SchemaError: If a step fails, naming the step and the driver's message.
    """
    for step in plan.steps:
        for statement in step.statements:
            try:
                conn.execute(statement)
            except sqlite3.Error as exc:
                raise SchemaError(
                    f"cannot {step.description}: {exc}; add an explicit migration in "
                    "get_migrations() that prepares the data"
                ) from exc
    return plan.describe()


def foreign_key_problems(conn: sqlite3.Connection) -> list[str]:
    """Rows that break a foreign key, as ``table rowid → parent`` lines (at most ten)."""
    rows: list[Any] = conn.execute("PRAGMA foreign_key_check").fetchall()
    return [f"{row[0]} row {row[1]} → {row[2]}" for row in rows[:10]]


__all__ = [
    "Loss",
    "Plan",
    "Snapshot",
    "Step",
    "apply_plan",
    "desired_snapshot",
    "foreign_key_problems",
    "plan_changes",
    "read_snapshot",
]

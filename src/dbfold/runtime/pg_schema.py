"""Declarative migrations on PostgreSQL: the catalog against ``get_schema()``.

The desired schema is built for real, inside the migration's transaction, in a scratch
schema under a savepoint that is rolled back afterwards; both sides are then read from the
catalog in the same normalized form (``format_type``, ``pg_get_expr``,
``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_viewdef``), so two spellings of one
definition compare equal and PostgreSQL, not a parser of ours, decides what a type is.

Changes are made in place: missing tables, columns, indexes and views are created; a
changed column type becomes ``ALTER COLUMN … TYPE … USING``, a changed default or NOT NULL
its ``ALTER COLUMN`` twin, a changed table constraint is dropped and added again. A column
whose identity changes cannot be altered faithfully and is refused (add an explicit
migration). PostgreSQL DDL is transactional, so the whole migration is one transaction; an
advisory lock taken *before* the version is read makes exactly one process migrate.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbfold.errors import DataLossError, DbfoldError, SchemaError
from dbfold.runtime.backend import quote_ident
from dbfold.runtime.dialect import pg_ddl, pg_schema_script, to_pg
from dbfold.runtime.pg_backend import PgPool, PostgresBackend, advisory_key
from dbfold.runtime.schema import Loss, Plan, Step
from dbfold.runtime.sqltext import parse_create_table, tokenize
from dbfold.runtime.timeutil import stamp
from dbfold.runtime.versions import (
    MigrationResult,
    MigrationSteps,
    SchemaSpec,
    version_key,
)


@dataclass(frozen=True)
class PgColumn:
    """One column as the catalog describes it."""

    name: str
    type: str
    not_null: bool
    default: str | None
    identity: str  # '' none, 'a' always, 'd' by default


@dataclass
class PgTable:
    """One table: columns in order and named table constraints (definition by name)."""

    name: str
    columns: list[PgColumn]
    constraints: dict[str, str]  # constraint name -> pg_get_constraintdef

    def column(self, name: str) -> PgColumn | None:
        """The column of this exact name."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class PgSnapshot:
    """The user objects of one schema (runtime tables left out)."""

    tables: dict[str, PgTable] = field(default_factory=dict)
    indexes: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> table, def
    views: dict[str, str] = field(default_factory=dict)  # name -> definition

    @property
    def empty(self) -> bool:
        """True when the schema holds no user object."""
        return not (self.tables or self.indexes or self.views)


def _fetch(conn: Any, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = conn.execute(to_pg(sql), params).fetchall()
    return rows


def read_pg_snapshot(conn: Any, schema: str) -> PgSnapshot:
    """Read the user tables, indexes and views of ``schema`` from the catalog."""
    snap = PgSnapshot()
    for name, kind in _fetch(
        conn,
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind IN ('r', 'p', 'v') "
        "AND c.relname NOT LIKE 'dbfold\\_%' ORDER BY c.oid",
        (schema,),
    ):
        if kind == "v":
            continue
        snap.tables[name] = PgTable(name, [], {})
    for table, col, typ, not_null, default, identity in _fetch(
        conn,
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid), a.attidentity FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE n.nspname = ? AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY c.oid, a.attnum",
        (schema,),
    ):
        if table in snap.tables:
            snap.tables[table].columns.append(
                PgColumn(col, typ, bool(not_null), default, identity or "")
            )
    for table, name, definition in _fetch(
        conn,
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ? AND k.contype IN ('p', 'u', 'c', 'f', 'x') ORDER BY k.oid",
        (schema,),
    ):
        if table in snap.tables:
            snap.tables[table].constraints[name] = definition
    for table, name, definition in _fetch(
        conn,
        "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = ? "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) "
        "ORDER BY i.oid",
        (schema,),
    ):
        if table in snap.tables:
            # The definition names the schema; drop it so two schemas compare.
            unqualified = definition.replace(f" ON {quote_ident(schema)}.", " ON ").replace(
                f" ON {schema}.", " ON "
            )
            snap.indexes[name] = (table, unqualified)
    for name, definition in _fetch(
        conn,
        "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'v' "
        "AND c.relname NOT LIKE 'dbfold\\_%' ORDER BY c.oid",
        (schema,),
    ):
        snap.views[name] = " ".join(definition.split())
    return snap


@dataclass
class Desired:
    """The translated ``get_schema()``: its statements by object, and their catalog form."""

    statements: list[str]
    tables: dict[str, str]  # table name -> CREATE TABLE
    columns: dict[tuple[str, str], str]  # (table, column) -> column definition text
    indexes: dict[str, str]  # index name -> CREATE INDEX
    views: dict[str, str]  # view name -> CREATE VIEW
    snapshot: PgSnapshot


def _object_name(statement: str) -> str:
    """The (unquoted, case-folded as PostgreSQL folds it) name a CREATE statement creates."""
    tokens = tokenize(statement)
    words = [t.norm for t in tokens]
    pos = 1
    skip = ("unique", "index", "view", "table", "temp", "temporary", "or", "replace")
    while pos < len(tokens) and words[pos] in skip:
        pos += 1
    if words[pos : pos + 3] == ["if", "not", "exists"]:
        pos += 3
    token = tokens[pos]
    return token.text[1:-1].replace('""', '"') if token.kind == "ident" else token.text.lower()


def desired_pg(conn: Any, script: str, owner: str) -> Desired:
    """Translate ``script`` and build it in a scratch schema under a savepoint.

    Raises:
        SchemaError: If the script is outside the subset, does not run, or uses ``dbfold_``.
    """
    if not isinstance(script, str):
        raise SchemaError(f"{owner} returned {type(script).__name__}; return the schema as SQL")
    statements = pg_schema_script(script, owner)
    desired = Desired(statements, {}, {}, {}, {}, PgSnapshot())
    for statement in statements:
        words = [t.norm for t in tokenize(statement)[:3]]
        name = _object_name(statement)
        if name.lower().startswith("dbfold_"):
            raise SchemaError(
                f"{owner} declares {name}; names starting with dbfold_ are reserved for the "
                "runtime, rename them"
            )
        if words[1] == "table":
            desired.tables[name] = statement
            table = parse_create_table(statement)
            for col in table.columns if table is not None else ():
                desired.columns[(name, col.name)] = col.text
        elif words[1] == "view":
            desired.views[name] = statement
        else:
            desired.indexes[name] = statement
    scratch = f"dbfold_desired_{secrets.token_hex(4)}"
    conn.execute("SAVEPOINT dbfold_desired")
    try:
        conn.execute(f"CREATE SCHEMA {scratch}")
        conn.execute(f"SET LOCAL search_path TO {scratch}")
        for statement in statements:
            try:
                conn.execute(statement)
            except Exception as exc:
                raise SchemaError(
                    f"{owner} is malformed on PostgreSQL: {' '.join(str(exc).split())} in "
                    f"{' '.join(statement.split())[:80]!r}; fix the SQL"
                ) from exc
        desired.snapshot = read_pg_snapshot(conn, scratch)
    finally:
        # Undoes the scratch schema and the search_path change alike.
        conn.execute("ROLLBACK TO SAVEPOINT dbfold_desired")
        conn.execute("RELEASE SAVEPOINT dbfold_desired")
    return desired


def _count(conn: Any, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def plan_pg_changes(conn: Any, live: PgSnapshot, want: Desired) -> Plan:
    """The in-place steps from ``live`` to ``want``, and the data drops would lose.

    Raises:
        SchemaError: For a change PostgreSQL cannot make in place (identity changes).
    """
    plan = Plan()
    creates: list[Step] = []
    alters: list[Step] = []
    drops: list[Step] = []
    target = want.snapshot
    altered = False
    for name, table in target.tables.items():
        have = live.tables.get(name)
        q = quote_ident(name)
        if have is None:
            creates.append(Step(f"create table {name}", (want.tables[name],)))
            continue
        for col in table.columns:
            old = have.column(col.name)
            qc = quote_ident(col.name)
            if old is None:
                text = want.columns.get((name, col.name), f"{qc} {col.type}")
                alters.append(
                    Step(f"add column {name}.{col.name}", (f"ALTER TABLE {q} ADD COLUMN {text}",))
                )
                continue
            if old.identity != col.identity:
                raise SchemaError(
                    f"cannot change whether {name}.{col.name} is generated in place; add an "
                    "explicit migration in get_migrations() that rebuilds the table"
                )
            statements: list[str] = []
            if old.type != col.type:
                statements.append(
                    f"ALTER TABLE {q} ALTER COLUMN {qc} TYPE {col.type} USING {qc}::{col.type}"
                )
            if old.default != col.default and not col.identity:
                statements.append(
                    f"ALTER TABLE {q} ALTER COLUMN {qc} "
                    + (f"SET DEFAULT {col.default}" if col.default else "DROP DEFAULT")
                )
            if old.not_null != col.not_null and not col.identity:
                statements.append(
                    f"ALTER TABLE {q} ALTER COLUMN {qc} "
                    + ("SET NOT NULL" if col.not_null else "DROP NOT NULL")
                )
            if statements:
                alters.append(Step(f"alter column {name}.{col.name}", tuple(statements)))
        for old in have.columns:
            if table.column(old.name) is None:
                qc = quote_ident(old.name)
                count = _count(conn, f"SELECT count(*) FROM {q} WHERE {qc} IS NOT NULL")
                if count:
                    plan.losses.append(Loss(name, old.name, count))
                drops.append(
                    Step(f"drop column {name}.{old.name}", (f"ALTER TABLE {q} DROP COLUMN {qc}",))
                )
        old_defs = {definition: cname for cname, definition in have.constraints.items()}
        new_defs = set(table.constraints.values())
        for definition, cname in old_defs.items():
            if definition not in new_defs:
                alters.insert(
                    0,
                    Step(
                        f"drop constraint {name}.{cname}",
                        (f"ALTER TABLE {q} DROP CONSTRAINT {quote_ident(cname)}",),
                    ),
                )
        for cname, definition in table.constraints.items():
            if definition not in old_defs:
                alters.append(
                    Step(
                        f"add constraint {name}.{cname}",
                        (f"ALTER TABLE {q} ADD CONSTRAINT {quote_ident(cname)} {definition}",),
                    )
                )
        altered = altered or any(s.description.endswith(name) for s in alters)
    for name in live.tables:
        if name not in target.tables:
            rows = _count(conn, f"SELECT count(*) FROM {quote_ident(name)}")
            if rows:
                plan.losses.append(Loss(name, None, rows))
            drops.append(Step(f"drop table {name}", (f"DROP TABLE {quote_ident(name)} CASCADE",)))
    # Views hold no data; an altered column may be used by one, so on any table change they
    # are all dropped first and created again afterwards.
    everything = bool(alters or drops)
    pre: list[Step] = []
    post: list[Step] = []
    for name, definition in live.views.items():
        if everything or target.views.get(name) != definition:
            pre.append(Step(f"drop view {name}", (f"DROP VIEW IF EXISTS {quote_ident(name)}",)))
    for name, definition in target.views.items():
        if everything or live.views.get(name) != definition:
            post.append(Step(f"create view {name}", (want.views[name],)))
    index_pre: list[Step] = []
    index_post: list[Step] = []
    for name, (_, definition) in live.indexes.items():
        if target.indexes.get(name, ("", ""))[1] != definition:
            index_pre.append(
                Step(f"drop index {name}", (f"DROP INDEX IF EXISTS {quote_ident(name)}",))
            )
    for name, (_, definition) in target.indexes.items():
        if live.indexes.get(name, ("", ""))[1] != definition:
            index_post.append(Step(f"create index {name}", (want.indexes[name],)))
    plan.steps = pre + index_pre + creates + alters + drops + index_post + post
    return plan


def pg_recorded_version(conn: Any) -> str | None:
    """The latest version in ``dbfold_schema_history``, ``None`` without the table."""
    if conn.execute("SELECT to_regclass('dbfold_schema_history')").fetchone()[0] is None:
        return None
    row = conn.execute(
        "SELECT version FROM dbfold_schema_history ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else str(row[0])


class PgMigrator(MigrationSteps):
    """Brings one PostgreSQL schema to the declared version (see the module docstring).

    Args:
        backend: The database.
        pool: The pool, so callable migrations reach the migration connection.
        spec: The declared schema.
        backup_dir: Where ``pg_dump`` files go; ``None`` takes no backup.
    """

    backend: PostgresBackend

    def __init__(
        self, backend: PostgresBackend, pool: PgPool, spec: SchemaSpec, backup_dir: Path | None
    ) -> None:
        self.backend = backend
        self.pool = pool
        self.spec = spec
        self.backup_dir = backup_dir
        self.key = advisory_key("dbfold.migrate", backend.url.split("?")[0], backend.schema)
        if spec.version is not None:
            self.target = version_key(spec.version, f"{spec.owner}.SCHEMA_VERSION")

    def needed(self) -> bool:
        """Cheap check without the lock: is there anything to do?"""
        try:
            with self.pool.connection() as conn:
                if self.spec.version is None:
                    row = conn.execute(
                        "SELECT to_regclass('dbfold_schema_history') IS NOT NULL AND "
                        "to_regclass('dbfold_operations') IS NOT NULL"
                    ).fetchone()
                    return not row[0]
                current = pg_recorded_version(conn)
        except self.backend.errors as exc:
            raise self.backend.wrap(exc, "read the schema version") from exc
        return self._outdated(current)

    def run(self, db: Any) -> MigrationResult | None:
        """Lock, re-read the version and migrate in one transaction if still needed."""
        conn = self.backend.connect()
        try:
            conn.execute("BEGIN")
            try:
                # Before anything is read: a second process waits here, then finds the
                # version recorded and does nothing.
                conn.execute(f"SELECT pg_advisory_xact_lock({self.key})")
                result = self._locked(conn, db)
                conn.execute("COMMIT")
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
        except self.backend.errors as exc:
            raise self.backend.wrap(exc, "migrate the schema") from exc
        finally:
            conn.close()
        return result

    def plan(self, conn: Any) -> Plan:
        """What reconciling would do now (a dry run inside the caller's transaction)."""
        want = desired_pg(conn, self.spec.schema(), f"{self.spec.owner}.get_schema()")
        return plan_pg_changes(conn, read_pg_snapshot(conn, self.backend.schema), want)

    def _locked(self, conn: Any, db: Any) -> MigrationResult | None:
        spec = self.spec
        current = pg_recorded_version(conn)
        if spec.version is not None and current is not None:
            self._refuse_newer(current)
            if version_key(current, "recorded version") == self.target:
                return None  # another process migrated while we waited for the lock
        live = read_pg_snapshot(conn, self.backend.schema)
        backup: Path | None = None
        if spec.version is not None and not (current is None and live.empty):
            backup = self._backup(current)  # before any change, while nothing is locked
        for ddl in spec.builtin_ddl:
            for statement in pg_ddl(ddl):
                conn.execute(statement)
        if spec.version is None:
            return None
        script = spec.schema()
        owner = f"{spec.owner}.get_schema()"
        want = desired_pg(conn, script, owner)
        checksum = hashlib.sha256(script.encode()).hexdigest()
        if current is None and live.empty:
            for statement in want.statements:
                conn.execute(statement)
            self._record(conn, None, "created", checksum, None)
            return MigrationResult(
                None, spec.version, None, (f"create schema {spec.version}",), True
            )
        steps = self._explicit(conn, db, current, backup)
        plan = plan_pg_changes(conn, read_pg_snapshot(conn, self.backend.schema), want)
        if plan.losses and not spec.allow_destructive:
            lost = "; ".join(str(loss) for loss in plan.losses)
            raise DataLossError(
                f"{self.backend.location}: migrating to {spec.version} would lose {lost}; "
                f"move the data in get_migrations() or set {spec.owner}.ALLOW_DESTRUCTIVE = True"
            )
        for step in plan.steps:
            for statement in step.statements:
                conn.execute("SAVEPOINT dbfold_step")
                try:
                    conn.execute(statement)
                except Exception as exc:
                    raise SchemaError(
                        f"{self.backend.location}: cannot {step.description}: "
                        f"{' '.join(str(exc).split())}; add an explicit migration in "
                        "get_migrations() that prepares the data"
                    ) from exc
                conn.execute("RELEASE SAVEPOINT dbfold_step")
        steps += plan.describe()
        note = f"migrated from {current or 'an unversioned schema'}: {len(steps)} changes"
        self._record(conn, current, note, checksum, backup)
        return MigrationResult(current, spec.version, backup, tuple(steps), False)

    def _backup(self, current: str | None) -> Path | None:
        if self.backup_dir is None:
            return None
        dbname = re.sub(r"[^\w.-]", "_", str(self.backend.dbname))
        destination = self.backup_dir / f"{dbname}-{current or 'unversioned'}-{stamp()}.dump"
        try:
            self.backend.backup(destination)
        except (OSError, DbfoldError) as exc:
            raise SchemaError(f"{exc}; nothing was changed") from exc
        return destination

    def _execute(self, conn: Any, sql: str, params: tuple[Any, ...] = ()) -> None:
        conn.execute(to_pg(sql), params)


__all__ = [
    "PgMigrator",
    "PgSnapshot",
    "desired_pg",
    "pg_recorded_version",
    "plan_pg_changes",
    "read_pg_snapshot",
]

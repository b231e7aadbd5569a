"""migrate() into PostgreSQL: build in a staging schema, verify, swap in one transaction.

The same operations as for SQLite (:func:`dbfold.migrate.ops.build_operations`), run
against a PostgreSQL schema (:mod:`dbfold.migrate.pg_schema` for the schemas, journal and
swap; :mod:`dbfold.migrate.pg_copy` for the rows). Each source is copied inside one
transaction with its journal row, so after ``kill -9`` (or a dropped connection) the next
run finds every committed source done and copies the rest. Tables are created without
secondary indexes and foreign keys; those come after the load, then ``ANALYZE``.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbfold.design.pg_names import foreign_key_names
from dbfold.design.pg_render import (
    create_table_sql,
    foreign_key_problem,
    foreign_key_sqls,
    identity_sqls,
    index_sqls,
)
from dbfold.design.render_sql import table_order
from dbfold.errors import DbfoldError, MigrateError
from dbfold.migrate import journal as sqlite_journal
from dbfold.migrate import pg_schema
from dbfold.migrate.ops import FILE_KINDS, CopyRecords, CopySqlite, Operation, Target
from dbfold.migrate.pg_copy import Copied, Copy, columns_of, text_columns
from dbfold.migrate.pg_values import Print
from dbfold.migrate.progress import NullProgress, Progress
from dbfold.migrate.records import SourceError
from dbfold.migrate.report import MigrationReport, Orphan, SourceResult
from dbfold.migrate.sqlsource import fingerprint, readable
from dbfold.model import Problem
from dbfold.pgurl import PgTarget, redact
from dbfold.plan import Plan, PlanTable
from dbfold.quoting import quote


@dataclass
class Run:
    """The state of one PostgreSQL migrate run."""

    pg: Any
    target: PgTarget
    work: str  # the schema being filled: the staging schema, or the target's own
    root: Path
    run_id: str
    progress: Progress
    entries: dict[pg_schema.JournalKey, pg_schema.Entry]
    scratch: Path
    plan: Plan
    problems: list[Problem] = field(default_factory=list)
    results: list[SourceResult] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    orphans: list[Orphan] = field(default_factory=list)
    rejected: int = 0
    bytes_read: int = 0
    #: Fingerprints of whole sources as the copy read them (verify's source side).
    prints: dict[pg_schema.JournalKey, Print] = field(default_factory=dict)

    def problem(self, path: str, message: str, severity: str = "error") -> None:
        self.problems.append(Problem(path, f"{path}: {message}", severity))

    def skip(self, t: Target, message: str, *, report: bool = True) -> None:
        if report:
            self.problem(t.source.store, message)
        self.failed.add(t.source.store)
        self.results.append(t.result("skipped"))

    def result(
        self, t: Target, status: str, rows: int, total: int, wm: int | None, t0: float
    ) -> None:
        self.results.append(t.result(status, rows, total, wm, t0))

    def attempt(self, sql: str, failed: str, tail: str = "") -> bool:
        """Run one statement in a savepoint; a refusal is a warning naming what failed."""
        try:
            with self.pg.transaction():
                self.pg.execute(sql)
        except __import__("psycopg").Error as exc:
            self.problem(self.target.shown, f"{failed} ({_explain_pg(exc)}){tail}", "warning")
            return False
        return True


def _q(schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


def _where_mine(t: Target) -> tuple[str, tuple[Any, ...]]:
    s = t.source
    if s.discriminator and s.value is not None:
        return f"{quote(s.discriminator)} = %s", (s.value,)
    return "true", ()


def _constants(t: Target) -> list[tuple[str, Any]]:
    s = t.source
    return [(s.discriminator, s.value)] if s.discriminator and s.value is not None else []


def _journal_done(
    run: Run,
    t: Target,
    *,
    watermark: int | None,
    copied: Copied,
    total: int,
    checksum: str | None,
    size: int | None,
    mtime: int | None,
) -> None:
    s = t.source
    run.pg.execute(
        f"INSERT INTO {_q(run.work, pg_schema.JOURNAL)} (run_id, store, source_table,"
        " target_table, array_path, status, watermark, rows_copied, rows_total,"
        " rows_rejected, checksum, file_size, file_mtime_ns, finished_at)"
        " VALUES (%s, %s, %s, %s, %s, 'done', %s, %s, %s, %s, %s, %s, %s, clock_timestamp())",
        (
            run.run_id,
            s.store,
            s.table,
            t.table.name,
            s.array or "",
            watermark,
            copied.rows,
            total,
            copied.rejected,
            checksum,
            size,
            mtime,
        ),
    )


def _delete_mine(run: Run, t: Target) -> None:
    where, params = _where_mine(t)
    run.pg.execute(f"DELETE FROM {_q(run.work, t.table.name)} WHERE {where}", params)
    s = t.source
    run.pg.execute(
        f"DELETE FROM {_q(run.work, pg_schema.REJECTS)} WHERE store = %s AND source_table = %s"
        " AND target_table = %s AND array_path = %s",
        (s.store, s.table, t.table.name, s.array or ""),
    )


def _explain_pg(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    msg = " ".join(str(exc).split())
    return redact(msg + (f" ({detail})" if detail and detail not in msg else ""))


def source_text(op: CopySqlite) -> frozenset[str]:
    """The read expressions of a SQLite source whose columns have TEXT affinity."""
    declared = {c.name: c.type for c in op.source.columns}
    name = quote(op.target.source.table)
    return text_columns([(f"{name}.{quote(p)}", declared.get(p, "")) for p in op.target.paths])


def scratch_text(table: PlanTable, exprs: list[tuple[str, str]]) -> frozenset[str]:
    """The same for a scratch table of file records (made with the plan's SQLite types)."""
    from dbfold.design.render_sql import column_type

    types = {c.name.casefold(): column_type(c) for c in table.columns}
    return text_columns([(e, types.get(n.casefold(), "")) for e, n in exprs])


def _report_rejects(run: Run, t: Target, copied: Copied) -> None:
    if not copied.rejected:
        return
    run.rejected += copied.rejected
    shown = "; ".join(copied.reasons)
    run.problem(
        t.source.store,
        f"table {t.source.table}: {copied.rejected:,} rows PostgreSQL cannot hold in"
        f" {t.table.name} were kept in {pg_schema.REJECTS} instead (e.g. {shown}); fix them"
        " in the source or edit the column's pg_type in .dbfold/plan.json",
        "warning",
    )


# -- SQLite sources --------------------------------------------------------------------


def copy_sqlite(run: Run, op: CopySqlite) -> None:
    """Copy one SQLite source table (new rows only when it only grew)."""
    t, s = op.target, op.target.source
    if t.table.name in run.refused:
        run.skip(
            t,
            f"table {s.table} (into {t.table.name}) was not migrated: {run.refused[t.table.name]}",
        )
        return
    started = time.perf_counter()
    path = run.root / op.store.path
    try:
        size, mtime = fingerprint(path)
    except OSError as exc:
        run.skip(t, f"cannot be read ({exc.strerror or exc}); it was skipped")
        return
    try:
        with readable(path) as (uri, _snap):
            con = sqlite3.connect(uri, uri=True)
            try:
                _copy_sqlite_table(run, op, con, size, mtime, started)
            finally:
                con.close()
    except SourceError as exc:
        run.skip(t, f"{exc}; it was skipped, the rest was migrated")
    except sqlite3.DatabaseError as exc:
        run.skip(t, f"could not be read ({exc}); it was skipped, the rest was migrated")


def _copy_sqlite_table(
    run: Run, op: CopySqlite, con: sqlite3.Connection, size: int, mtime: int, started: float
) -> None:
    t, s = op.target, op.target.source
    name = quote(s.table)
    rowid = op.rowid
    if rowid is not None:
        _low, hi, count = con.execute(
            f"SELECT min({rowid}), max({rowid}), count(*) FROM {name}"
        ).fetchone()
    else:
        (count,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        hi = None
    if count != op.source.rows:
        run.problem(
            s.store,
            f"table {s.table} changed since the analysis ({op.source.rows:,} → {count:,} rows);"
            " migrated what it holds now",
            "warning",
        )
    entry = run.entries.get(t.key)
    status, lo = "copied", None
    if entry is not None:
        wm = entry.watermark
        seen = entry.rows_total
        if rowid is not None and wm is not None and hi is not None and hi >= wm:
            (upto,) = con.execute(
                f"SELECT count(*) FROM {name} WHERE {rowid} <= ?", (wm,)
            ).fetchone()
            if upto == seen:
                if hi == wm:
                    run.result(t, "unchanged", 0, seen, wm, started)
                    return
                status, lo = "appended", wm
            else:
                status = "recopied"
        elif rowid is not None and hi is None and seen == 0 and entry.watermark is None:
            run.result(t, "unchanged", 0, 0, None, started)
            return
        else:
            status = "recopied"
    exprs = [(f"{name}.{quote(p)}", c) for p, c in zip(t.paths, t.columns, strict=True)]
    if t.fill_surrogate and s.surrogate:
        exprs.append((rowid or "NULL", s.surrogate))
    copy = Copy(
        run.pg,
        run.work,
        t.table,
        columns_of(t.table, exprs, source_text(op)),
        source_from=name,
        where=f"{rowid} > ?" if lo is not None and rowid else "",
        params=(lo,) if lo is not None and rowid else (),
        constants=_constants(t),
        rowid=rowid,
        label=(s.store, s.table, t.table.name, s.array or ""),
        run_id=run.run_id,
        advance=lambda n: run.progress.advance(n, n * size // max(op.store.rows, 1)),
    )
    todo = count - (entry.rows_total if status == "appended" and entry else 0)
    run.progress.start(t.label, todo, size * count // max(op.store.rows, 1))
    psycopg = __import__("psycopg")
    try:
        with run.pg.transaction():
            if status == "recopied":
                _delete_mine(run, t)
            copied = copy.run(con)
            prev = entry.rows_total if entry is not None and status == "appended" else 0
            total = prev + copied.rows + copied.rejected
            _journal_done(
                run,
                t,
                watermark=hi,
                copied=copied,
                total=total,
                checksum=None,
                size=size,
                mtime=mtime,
            )
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        run.skip(
            t,
            f"table {s.table} (into {t.table.name}) was not migrated: a row breaks a"
            f" constraint of the target ({_explain_pg(exc)}); fix the key in"
            " .dbfold/plan.json (or the source) and run migrate again; the other tables"
            " were migrated",
        )
        return
    finally:
        run.progress.done()
    _report_rejects(run, t, copied)
    if status != "appended" and copied.rows + copied.rejected == count:
        run.prints[t.key] = copied.print  # the whole source, and every row of it counted
    run.result(t, status, copied.rows, total, hi, started)


# -- file sources ----------------------------------------------------------------------


def copy_records(run: Run, op: CopyRecords, n: int) -> None:
    """Copy one file record set (and its child tables) after reading it into scratch."""
    from dbfold.migrate.verify import fill_records

    started = time.perf_counter()
    first = op.targets[0]
    kind = op.store.kind
    if any(t.table.name in run.refused for t in op.targets):
        for i, t in enumerate(op.targets):
            why = run.refused.get(t.table.name, "a table of its record set was refused")
            run.skip(t, f"{op.store.path}: not migrated: {why}", report=i == 0)
        return
    if kind not in FILE_KINDS:
        why = (
            "shelve values are pickles and dbfold never unpickles them (that runs code)"
            if kind == "shelve"
            else f"{kind} stores are not migrated yet"
        )
        run.problem(
            op.store.path,
            f"not migrated: {why}; convert it (e.g. to JSON) with the code that owns it",
            "warning",
        )
        for t in op.targets:
            run.skip(t, "", report=False)
        return
    path = run.root / op.store.path
    try:
        st = path.stat()
        digest = sqlite_journal.file_hash(path)
    except OSError as exc:
        for i, t in enumerate(op.targets):
            run.skip(t, f"cannot be read ({exc.strerror or exc}); it was skipped", report=i == 0)
        return
    entries = [run.entries.get(t.key) for t in op.targets]
    if all(e is not None and e.checksum == digest for e in entries):
        for t, e in zip(op.targets, entries, strict=True):
            assert e is not None
            run.result(t, "unchanged", 0, e.rows_total, None, started)
        return
    status = "recopied" if any(e is not None for e in entries) else "copied"
    run.progress.start(first.label, op.source.rows, st.st_size)
    psycopg = __import__("psycopg")
    try:
        fill = fill_records(run.scratch / f"copy-{n}.db", run.root, op, None)
        assert fill is not None
        run.bytes_read += fill.bytes
        scon = sqlite3.connect(fill.path)
        done: list[tuple[Target, Copied]] = []
        try:
            with run.pg.transaction():
                for t in op.targets:
                    if status == "recopied":
                        _delete_mine(run, t)
                    cols = [*t.columns, *t.generated]
                    exprs = [(quote(c), c) for c in cols]
                    copy = Copy(
                        run.pg,
                        run.work,
                        t.table,
                        columns_of(t.table, exprs, scratch_text(t.table, exprs)),
                        source_from=f"main.{quote(t.table.name)}",
                        constants=_constants(t),
                        label=(t.source.store, t.source.table, t.table.name, t.source.array or ""),
                        run_id=run.run_id,
                        advance=lambda k: run.progress.advance(k, 0),
                    )
                    copied = copy.run(scon)
                    _journal_done(
                        run,
                        t,
                        watermark=None,
                        copied=copied,
                        total=copied.rows + copied.rejected,
                        checksum=digest,
                        size=st.st_size,
                        mtime=st.st_mtime_ns,
                    )
                    done.append((t, copied))
        finally:
            scon.close()
            fill.path.unlink(missing_ok=True)
    except (SourceError, DbfoldError) as exc:
        for i, t in enumerate(op.targets):
            run.skip(t, f"{exc}; it was skipped, the rest was migrated", report=i == 0)
        return
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        for i, t in enumerate(op.targets):
            run.skip(
                t,
                f"{op.store.path}:{op.source.name} was not migrated: a record breaks a"
                f" constraint of {t.table.name} ({_explain_pg(exc)}); fix the key in"
                " .dbfold/plan.json (or the file) and run migrate again",
                report=i == 0,
            )
        return
    finally:
        run.progress.done()
    if fill.bad:
        run.problem(
            op.store.path, f"{fill.bad:,} unreadable lines were kept out; fix or remove them"
        )
    for t, copied in done:
        _report_rejects(run, t, copied)
        run.prints[t.key] = copied.print
        run.result(t, status, copied.rows, copied.rows + copied.rejected, None, started)


# -- after the load --------------------------------------------------------------------


def create_tables(run: Run, plan: Plan) -> None:
    """Create every table (IF NOT EXISTS); one the server refuses is left out, reported."""
    for table in table_order(plan):
        try:
            sql = create_table_sql(table, run.work)
        except DbfoldError as exc:
            run.refused[table.name] = f"cannot be rendered for PostgreSQL ({exc})"
            continue
        sql = sql.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
        run.pg.execute("SAVEPOINT dbfold_create")
        try:
            run.pg.execute(sql)
        except __import__("psycopg").Error as exc:
            run.pg.execute("ROLLBACK TO SAVEPOINT dbfold_create")
            run.refused[table.name] = f"cannot be created in PostgreSQL ({_explain_pg(exc)})"
        run.pg.execute("RELEASE SAVEPOINT dbfold_create")


def finish_tables(run: Run, plan: Plan) -> None:
    """Indexes, identity sequences past the highest key, foreign keys (ANALYZE follows,
    beside verify: :func:`analyze_beside`)."""
    tables = [t for t in table_order(plan) if t.name not in run.refused]
    with run.pg.transaction():
        for table in tables:
            for sql in index_sqls(table, run.work):
                sql = sql.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
                sql = sql.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
                run.attempt(
                    sql,
                    f"an index of {table.name} could not be built",
                    "; the rows are there, fix the index in .dbfold/plan.json",
                )
            for sql in identity_sqls(table, run.work):
                run.pg.execute(sql)
        for table in tables:
            _foreign_keys(run, table)
    run.pg.commit()


def analyze_beside(target: PgTarget, schema: str) -> threading.Thread:
    """``ANALYZE`` the schema's tables on a connection of its own, in a thread: the server
    samples them on the other core while verify reads the target in Python."""

    def work() -> None:
        try:
            con = target.connect(autocommit=True)
        except DbfoldError:
            return  # the verify beside it reports an unreachable server
        try:
            for (name,) in con.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchall():
                con.execute(f"ANALYZE {_q(schema, name)}")
        except __import__("psycopg").Error:
            return  # statistics are an optimisation; optimize runs ANALYZE again
        finally:
            con.close()

    thread = threading.Thread(target=work, name="dbfold-analyze", daemon=True)
    thread.start()
    return thread


def _foreign_keys(run: Run, table: PlanTable) -> None:
    sqls = foreign_key_sqls(table, run.work)
    names = foreign_key_names(table)
    for fk, sql, fk_name in zip(table.foreign_keys, sqls, names, strict=True):
        if fk.ref_table in run.refused:
            continue
        why = foreign_key_problem(run.plan, table, fk)
        if why is not None:
            run.problem(run.target.shown, f"{why}; it was left out", "warning")
            continue
        there = run.pg.execute(
            "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
            (fk_name, _q(run.work, table.name)),
        ).fetchone()
        if there is not None:
            continue  # a resumed build, or an incremental run: added before
        cond = " AND ".join(
            f"c.{quote(a)} = p.{quote(b)}" for a, b in zip(fk.columns, fk.ref_columns, strict=True)
        )
        notnull = " AND ".join(f"c.{quote(a)} IS NOT NULL" for a in fk.columns)
        (orphans,) = run.pg.execute(
            f"SELECT count(*) FROM {_q(run.work, table.name)} c WHERE {notnull} AND NOT EXISTS"
            f" (SELECT 1 FROM {_q(run.work, fk.ref_table)} p WHERE {cond})"
        ).fetchone()
        if orphans:
            run.orphans.append(Orphan(table.name, None, fk.ref_table, int(orphans)))
            sql = sql.rstrip().rstrip(";") + " NOT VALID"
        run.attempt(sql, f"a foreign key of {table.name} could not be added")


def run_operations(run: Run, ops: list[Operation]) -> None:
    """Copy every source, in the plan's order."""
    for n, op in enumerate(ops):
        if isinstance(op, CopySqlite):
            copy_sqlite(run, op)
        elif isinstance(op, CopyRecords):
            copy_records(run, op, n)


def target_bytes(pg: Any, schema: str) -> int:
    """The size of every table of ``schema`` with its indexes and TOAST."""
    (n,) = pg.execute(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN"
        " pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = %s AND c.relkind = 'r'",
        (schema,),
    ).fetchone()
    return int(n)


def migrate_postgres(
    plan: Plan,
    analysis: Any,
    root: Path,
    target: PgTarget,
    *,
    ops: list[Operation],
    problems: list[Problem],
    run_id: str,
    plan_hash: str,
    force: bool,
    progress: Progress | None,
    started: float,
    table_plans: Any,
    sources_bytes: int,
) -> MigrationReport:
    """Execute the plan into ``target``; see the module docstring for the rules."""
    from dbfold.migrate.pg_verify import verify_postgres

    with pg_schema.hold(target, "migrate"):
        pg = target.connect()
        try:
            kind = pg_schema.classify(pg, target.schema)
            pg.commit()
            if kind == "foreign" and not force:
                names = pg_schema.tables_in(pg, target.schema)
                raise MigrateError(
                    f"{target.shown}: schema {target.schema} holds {len(names)} tables dbfold"
                    f" did not make (e.g. {', '.join(names[:3])}); choose another --schema, or"
                    " pass --force to move them into a backup schema and replace them"
                )
            made = kind == "dbfold"
            work = target.schema if made else pg_schema.staging_name(target.schema)
            with pg.transaction():
                if not made:
                    resume = (
                        pg_schema.schema_exists(pg, work)
                        and pg_schema.get_meta(pg, work, "plan") == plan_hash
                    )
                    if not resume:
                        pg.execute(f"DROP SCHEMA IF EXISTS {quote(work)} CASCADE")
                        pg.execute(f"CREATE SCHEMA {quote(work)}")
                elif not pg_schema.schema_exists(pg, work):
                    pg.execute(f"CREATE SCHEMA {quote(work)}")
                for sql in pg_schema.journal_ddl(work):
                    pg.execute(sql)
                run = Run(
                    pg,
                    target,
                    work,
                    root,
                    run_id,
                    progress or NullProgress(),
                    {},
                    Path(tempfile.mkdtemp(prefix="dbfold-pg-")),
                    plan,
                )
                create_tables(run, plan)
                if not made:
                    pg_schema.set_meta(pg, work, "plan", plan_hash)
            run.entries = pg_schema.last_done(pg, work)
            pg.commit()
            try:
                run_operations(run, ops)
            finally:
                shutil.rmtree(run.scratch, ignore_errors=True)
            finish_tables(run, plan)
            analyzing = analyze_beside(target, work)
            check = verify_postgres(
                plan,
                analysis,
                root,
                target,
                schema=work,
                skip_stores=frozenset(run.failed),
                progress=progress,
                prints=run.prints,
            )
            analyzing.join()
            problems += run.problems
            backup = None
            if not made:
                if check.ok:
                    backup = _swap(pg, run, plan, force=force and kind == "foreign")
                else:
                    problems.append(
                        Problem(
                            target.shown,
                            f"{target.shown}: verification failed, so the new tables were not"
                            f" put in place; they stay in schema {work} for inspection (drop"
                            " it to start clean)",
                        )
                    )
            final = target.schema if (made or check.ok) else work
            size = target_bytes(pg, final)
            pg.commit()
        except __import__("psycopg").OperationalError as exc:
            raise MigrateError(
                f"{target.shown}: the connection to PostgreSQL failed during the run"
                f" ({_explain_pg(exc)}); run migrate again: committed sources stay done"
            ) from exc
        finally:
            pg.close()
    return MigrationReport(
        str(root),
        target.shown,
        True,
        run_id,
        "incremental" if made else "new",
        tables=table_plans,
        sources=tuple(run.results),
        problems=tuple(problems),
        orphans=tuple(run.orphans),
        verify=check,
        seconds=round(time.perf_counter() - started, 3),
        rows=sum(r.rows for r in run.results),
        bytes_read=run.bytes_read,
        sources_bytes=sources_bytes,
        target_bytes=size,
        backup=backup,
    )


def _swap(pg: Any, run: Run, plan: Plan, *, force: bool) -> str | None:
    """Move the verified build into the target schema, in one transaction."""
    schema = run.target.schema
    backup = pg_schema.backup_name(schema, run.run_id) if force else None
    with pg.transaction():
        pg.execute("SET LOCAL lock_timeout = '10s'")
        if backup is not None:
            pg.execute(f"CREATE SCHEMA {quote(backup)}")
            for sql in pg_schema.move_tables_sql(pg, schema, backup):
                pg.execute(sql)
        stmts = pg_schema.swap_sql(run.work, schema, pg_schema.tables_in(pg, run.work))
        for sql in stmts:
            pg.execute(sql)
    return f"schema {backup}" if backup is not None else None


def dry_run_notes(target: PgTarget) -> list[tuple[str, str]]:
    """What a dry run can say about a PostgreSQL target without changing it."""
    try:
        pg = target.connect(autocommit=True)
    except MigrateError as exc:
        return [(f"{exc}; --execute would fail", "error")]
    try:
        kind = pg_schema.classify(pg, target.schema)
        stage = pg_schema.staging_name(target.schema)
        out: list[tuple[str, str]] = []
        if kind == "foreign":
            names = pg_schema.tables_in(pg, target.schema)
            out.append(
                (
                    f"{target.shown}: schema {target.schema} holds {len(names)} tables dbfold"
                    " did not make; --execute refuses it unless --force (which moves them"
                    " into a backup schema first)",
                    "error",
                )
            )
        if kind != "dbfold" and pg_schema.schema_exists(pg, stage):
            out.append(
                (
                    f"{target.shown}: an interrupted build waits in schema {stage}; --execute"
                    " resumes it if the plan did not change, else starts clean",
                    "warning",
                )
            )
        return out
    finally:
        pg.close()

"""migrate(): the dry run (default) and the execution of a plan's operations.

A new target is built beside its final path (``<target>.dbfold-tmp``), verified, checked
with ``integrity_check`` and flushed, then renamed into place (:mod:`dbfold.migrate.target`
clears the old path's ``-journal``/``-wal``/``-shm`` first, and refuses to replace a target
another program has open); a build interrupted by a crash is resumed by the next run (every
source committed with its journal row stays done) or, if the plan changed meanwhile, started
clean. An existing dbfold target is changed in place, source by source, each inside one
transaction with its journal row; a target that dbfold did not make is refused unless
``force``, which backs it up to ``.dbfold/backups/`` (SQLite's backup API) and replaces it.
One run at a time per target: ``--execute`` holds ``<target>.dbfold-lock``
(:mod:`dbfold.targetlock`). A full, read-only or removed target stops the run with a message
saying so, and a partial build is removed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from dbfold.errors import MigrateError
from dbfold.migrate import journal
from dbfold.migrate.copy import Copier
from dbfold.migrate.dryrun import dry_run_problems
from dbfold.migrate.ops import (
    CopyRecords,
    CopySqlite,
    CreateIndex,
    CreateTable,
    CreateView,
    Operation,
    build_operations,
    estimate,
)
from dbfold.migrate.progress import Progress
from dbfold.migrate.report import MigrationReport, TablePlan
from dbfold.migrate.target import (
    TMP_SUFFIX,
    classify,
    dry_run_notes,
    failure,
    finish,
    integrity,
    remove_build,
    usable,
)
from dbfold.migrate.verify import Prefetch, verify
from dbfold.model import Analysis, Problem
from dbfold.pgurl import PgTarget, chosen_target, is_postgres, redact
from dbfold.plan import Plan
from dbfold.provenance import WRITES_DDL, read_writes
from dbfold.state import state_dir, write_atomic
from dbfold.targetlock import hold

#: Page cache of the target connection, in KiB.
CACHE_KIB = 16 * 1024


def resolve_pg(plan: Plan, target: str | None = None, schema: str | None = None) -> PgTarget | None:
    """The PostgreSQL target (``target``, ``$DBFOLD_TARGET`` or the plan's), or None when
    the target is a SQLite file. ``schema`` overrides the plan's."""
    text = chosen_target(target, plan.target)
    if not is_postgres(text):
        return None
    return PgTarget(text, schema or plan.schema)


def resolve_target(plan: Plan, root: Path, target: str | None = None) -> Path:
    """The target file: ``target`` (a path or ``sqlite:///`` URL), ``$DBFOLD_TARGET`` or the
    plan's, under root.

    Raises:
        MigrateError: a PostgreSQL URL (see :func:`resolve_pg`) or an unknown scheme.
    """
    text = chosen_target(target, plan.target)
    if is_postgres(text):
        raise MigrateError(
            f"{redact(text)}: a PostgreSQL target is not a file; this command needs a SQLite target"
        )
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise MigrateError(f"{text}: unknown target scheme; give a file path")
    path = Path(text)
    return path if path.is_absolute() else root / path


def _exclusions(plan: Plan) -> list[Problem]:
    """What the plan leaves out of sources, said in every run (the plan alone holds it)."""
    out = []
    for e in plan.excluded:
        if e.kind != "table" or e.reason.startswith("SQLite's own"):
            continue  # columns/views are in the report; sqlite_* tables are SQLite's
        what = f"table {e.table!r} of {e.store}" if e.table else e.store
        out.append(
            Problem(
                e.store,
                f"{what} is excluded in .dbfold/plan.json and not migrated: {e.reason}",
                "warning",
            )
        )
    return out


def plan_hash(plan: Plan) -> str:
    """A short hash of the plan's tables (a resumed build must use the same plan)."""
    raw = b"".join(t.to_json(indent=False) for t in plan.tables)
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _once(problems: list[Problem]) -> tuple[Problem, ...]:
    """Each problem once, in the order first found (every table of an unreadable store, or
    every target of one record set, reports the same message); the gravest severity wins."""
    out: dict[tuple[str, str], Problem] = {}
    for p in problems:
        key = (p.path, p.message)  # the first one's line stays
        seen = out.get(key)
        if seen is None:
            out[key] = p
        elif seen.severity != "error" and p.severity == "error":
            out[key] = replace(seen, severity="error")
    return tuple(out.values())


def _table_plans(
    plan: Plan, ops: list[Operation], problems: dict[str, list[str]]
) -> tuple[TablePlan, ...]:
    est = estimate(ops)
    texts: dict[str, list[str]] = {t.name: [] for t in plan.tables}
    for op in ops:
        if isinstance(op, CreateTable):
            texts[op.table.name].append(op.describe())
        elif isinstance(op, CopySqlite):
            texts[op.target.table.name].append(op.describe())
        elif isinstance(op, CopyRecords):
            for tg in op.targets:
                if tg in op.roots:
                    texts[tg.table.name].append(op.describe())
                else:
                    texts[tg.table.name].append(
                        f"filled from array {tg.source.array} of {tg.source.store}:"
                        f"{tg.source.table} during that copy (parent key + position)"
                    )
        elif isinstance(op, CreateIndex):
            texts[op.table].append(op.describe() + " (after the load)")
    out = []
    for t in plan.tables:
        rows, nbytes, secs = est.get(t.name, (0, 0, 0.0))
        out.append(
            TablePlan(
                t.name,
                tuple(texts[t.name]),
                rows,
                nbytes,
                round(secs, 3),
                tuple(problems.get(t.name, ())),
            )
        )
    return tuple(out)


def _connect(path: Path, *, fast: bool) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    con.execute("PRAGMA busy_timeout = 1000")
    # A new build may skip fsyncs: a kill -9 loses nothing the OS already has, and a power
    # loss leaves only the temporary file, which the next run starts again.
    con.execute(f"PRAGMA synchronous = {'OFF' if fast else 'NORMAL'}")
    # Bounded memory whatever the sources' size: a 16 MB page cache is enough for appends in
    # rowid order, and the sorts of index builds spill to temporary files, not to RAM.
    con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    con.execute("PRAGMA temp_store = FILE")
    return con


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MigrateError(f"{folder}: cannot create the target folder ({exc.strerror})") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".dbfold-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise MigrateError(
            f"{folder}: the target folder is read-only ({exc.strerror}); make it writable"
            " or choose another --target"
        ) from exc


def migrate(
    plan: Plan,
    analysis: Analysis,
    root: Path,
    *,
    execute: bool = False,
    target: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    schema: str | None = None,
) -> MigrationReport:
    """Dry-run (default) or execute the migration of every source into the target.

    Args:
        plan: the plan (``.dbfold/plan.json``).
        analysis: the analysis the plan was designed from.
        root: the project root.
        execute: run the operations; without it nothing is written anywhere.
        target: a target path or ``sqlite:///`` URL instead of ``plan.target``.
        force: replace a target that dbfold did not make (after backing it up).
        progress: receives per-source progress (the CLI draws bars with it).
        schema: the PostgreSQL schema of the unified tables (default: the plan's).

    Returns:
        A report: per target table the operations (and, executed, per source what was
        copied), problems, foreign-key orphans and the verification.

    Raises:
        MigrateError: the target cannot be used (read-only folder, not made by dbfold
            without ``force``, a PostgreSQL URL, open in another program when it would be
            replaced), another migrate or optimize of it is running, or the disk filled up,
            became read-only or lost the target folder during the run (the message says
            what was left: a partial build is removed, an existing target is unchanged).
    """
    started = time.perf_counter()
    run_id = f"{_now()}-{secrets.token_hex(3)}"
    pg = resolve_pg(plan, target, schema)
    if pg is not None:
        return _migrate_pg(plan, analysis, root, pg, execute, force, progress, started, run_id)
    dest = resolve_target(plan, root, target)
    for store in plan.stores:
        if (root / store).absolute() == dest.absolute():
            raise MigrateError(f"{dest}: the target is a source store; choose another --target")
    ops, notes = build_operations(plan, analysis)
    sources_bytes = sum(s.bytes for s in analysis.stores if s.path in set(plan.stores))
    problems = [Problem(str(dest), n, "warning") for n in notes]
    problems += _exclusions(plan)
    if not execute:
        kind = classify(dest, may_write=False)
        table_problems, found = dry_run_problems(plan, analysis, root, ops)
        problems += found
        problems += [Problem(str(dest), m, sev) for m, sev in dry_run_notes(dest, kind)]
        return MigrationReport(
            str(root),
            str(dest),
            False,
            run_id,
            "dry-run",
            tables=_table_plans(plan, ops, table_problems),
            problems=_once(problems),
            seconds=round(time.perf_counter() - started, 3),
            rows=sum(t.rows for t in _table_plans(plan, ops, {})),
            sources_bytes=sources_bytes,
        )
    _writable(dest.parent)
    # One run per target: a second migrate (or an optimize) fails here, naming this one.
    with hold(dest, "migrate", MigrateError):
        kind = usable(dest, force=force)
        made = kind == "dbfold"
        work = dest if made else dest.with_name(dest.name + TMP_SUFFIX)
        con = _connect(work, fast=False) if made else _open_build(work, plan)
        copier = Copier(con, root, run_id, progress)
        # The streamed files are read again for verify on the other core during the copy.
        prefetch = Prefetch(plan, analysis, root)
        try:
            try:
                _run(con, ops, copier, plan, made=made)
            except (sqlite3.Error, OSError) as exc:
                con.close()
                raise failure(exc, dest, work, new_build=not made, need=sources_bytes) from exc
            con.close()
            with ThreadPoolExecutor(max_workers=1) as pool:
                # A new build's integrity_check reads it beside verify (both read-only).
                sound = None if made else pool.submit(integrity, work)
                check = verify(
                    plan,
                    root,
                    work,
                    analysis=analysis,
                    skip_stores=frozenset(copier.failed),
                    prefetch=prefetch,
                    progress=progress,
                )
        finally:
            prefetch.close()
        problems += copier.problems
        backup = None
        if sound is not None:
            if check.ok or _damaged(sound):
                # A damaged build is removed whatever verify said: integrity_check names the
                # cause, and a resumed damaged build would fail again.
                replacing = force and os.path.lexists(dest)
                backup, damage = finish(
                    work,
                    dest,
                    run_id,
                    backup_dir=state_dir(root) / "backups" if replacing else None,
                    need=sources_bytes,
                    checked=sound.result,
                )
                if damage is not None:
                    problems.append(Problem(str(dest), damage))
            else:
                problems.append(
                    Problem(
                        str(dest),
                        f"{dest}: verification failed, so the new database was not put in "
                        f"place; it stays at {work} for inspection (delete it to start clean)",
                    )
                )
    final = dest if dest.exists() and (made or check.ok) else work
    return MigrationReport(
        str(root),
        str(dest),
        True,
        run_id,
        "incremental" if made else "new",
        tables=_table_plans(plan, ops, {}),
        sources=tuple(copier.results),
        problems=_once(problems),
        orphans=tuple(copier.orphans),
        verify=check,
        seconds=round(time.perf_counter() - started, 3),
        rows=sum(r.rows for r in copier.results),
        bytes_read=copier.bytes_read,
        sources_bytes=sources_bytes,
        target_bytes=final.stat().st_size if final.exists() else 0,
        backup=backup,
    )


def _migrate_pg(
    plan: Plan,
    analysis: Analysis,
    root: Path,
    target: PgTarget,
    execute: bool,
    force: bool,
    progress: Progress | None,
    started: float,
    run_id: str,
) -> MigrationReport:
    """migrate() into PostgreSQL (:mod:`dbfold.migrate.pg_migrate`)."""
    from dbfold.migrate import pg_migrate

    ops, notes = build_operations(plan, analysis)
    sources_bytes = sum(s.bytes for s in analysis.stores if s.path in set(plan.stores))
    problems = [Problem(target.shown, n, "warning") for n in notes]
    problems += _exclusions(plan)
    if not execute:
        table_problems, found = dry_run_problems(plan, analysis, root, ops)
        problems += found
        problems += [Problem(target.shown, m, sev) for m, sev in pg_migrate.dry_run_notes(target)]
        tables = _table_plans(plan, ops, table_problems)
        return MigrationReport(
            str(root),
            target.shown,
            False,
            run_id,
            "dry-run",
            tables=tables,
            problems=_once(problems),
            seconds=round(time.perf_counter() - started, 3),
            rows=sum(t.rows for t in tables),
            sources_bytes=sources_bytes,
        )
    report = pg_migrate.migrate_postgres(
        plan,
        analysis,
        root,
        target,
        ops=ops,
        problems=problems,
        run_id=run_id,
        plan_hash=plan_hash(plan),
        force=force,
        progress=progress,
        started=started,
        table_plans=_table_plans(plan, ops, {}),
        sources_bytes=sources_bytes,
    )
    return replace(report, problems=_once(list(report.problems)))


def _damaged(sound: Future[str | None]) -> bool:
    """Whether the build's integrity_check found damage (a fault of the disk is not)."""
    try:
        return sound.result() is not None
    except (sqlite3.Error, OSError):
        return False


def _open_build(work: Path, plan: Plan) -> sqlite3.Connection:
    """Open the build file: resume it if it holds a build of this plan, else start clean."""
    # Read-write, so SQLite rolls back a copy that a crash interrupted: the sources
    # committed before it stay done and are not copied again.
    if classify(work, may_write=True) == "dbfold":
        con = _connect(work, fast=True)
        if journal.get_meta(con, "plan") == plan_hash(plan):
            return con
        con.close()
    # A fresh build must not meet a stale -journal/-wal/-shm of an earlier one.
    why = remove_build(work)
    if why is not None:
        raise MigrateError(f"{work}: an old build cannot be removed ({why}); delete it")
    return _connect(work, fast=True)


def _run(
    con: sqlite3.Connection, ops: list[Operation], copier: Copier, plan: Plan, *, made: bool
) -> None:
    con.execute("BEGIN IMMEDIATE")
    for op in ops:
        if isinstance(op, CreateTable):
            op.run(copier)
    journal.ensure(con)
    con.execute(WRITES_DDL)  # filled by the adapters after the cutover (dbfold.provenance)
    if not made:
        journal.set_meta(con, "plan", plan_hash(plan))
    con.execute("COMMIT")
    copier.entries = journal.last_done(con)
    copier.written = read_writes(con)
    for op in ops:
        if isinstance(op, (CopySqlite, CopyRecords)):
            op.run(copier)
    con.execute("BEGIN IMMEDIATE")
    for op in ops:
        if isinstance(op, (CreateIndex, CreateView)):
            op.run(copier)
    con.execute("COMMIT")
    copier.check_foreign_keys()


def save_report(report: MigrationReport, root: Path) -> MigrationReport:
    """Write the report to ``.dbfold/reports/<timestamp>-migrate.json``; return it with the path."""
    path = state_dir(root) / "reports" / f"{_now()}-migrate.json"
    report = replace(report, report_path=str(path))
    write_atomic(path, report.to_json() + b"\n")
    return report

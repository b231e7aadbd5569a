"""Everything the HTML report shows, gathered once into plain values.

The plan and the analysis come from ``.dbfold/``; the latest executed migration and the
latest verification from ``.dbfold/reports/``; the rest from the target itself: its
journal (``dbfold_migrations``, ``dbfold_migrate_meta``), the writes legacy code made
through the adapters since the cutover (``dbfold_adapter_log`` and the view
``dbfold_adapter_writes``) and its row counts. The target is read only through sqlite3 with
a read-only URI (file-safety rule 1 in ARCHITECTURE.md); source files are only stat()ed, to
see what changed since their last copy, never opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dbfold.errors import DbfoldError
from dbfold.migrate import journal
from dbfold.migrate.report import MigrationReport, VerifyReport
from dbfold.model import Analysis
from dbfold.pgurl import PgTarget
from dbfold.plan import Plan
from dbfold.provenance import LOG_TABLE, WRITES_TABLE
from dbfold.quoting import quote

REPORTS_DIR = "reports"
BACKUPS_DIR = "backups"


def now_stamp() -> str:
    """A UTC timestamp as the reports' file names use it: ``20250101T120000123456Z``."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def stamp_text(stamp: str) -> str:
    """``20250101T120000123456Z`` (or an ISO time) as people read it: ``2025-01-01 12:00:00``.

    >>> stamp_text("20250101T120000123456Z"), stamp_text("2025-01-01T12:00:00.5Z")
    ('2025-01-01 12:00:00 UTC', '2025-01-01 12:00:00 UTC')
    """
    digits = stamp.replace("-", "").replace(":", "")
    if len(digits) >= 15 and digits[8] == "T":
        d, t = digits[:8], digits[9:15]
        return f"{d[:4]}-{d[4:6]}-{d[6:]} {t[:2]}:{t[2:4]}:{t[4:6]} UTC"
    return stamp


@dataclass(frozen=True)
class Copy:
    """One source copied in one run (a ``done`` row of the journal)."""

    store: str
    table: str
    target: str
    array: str
    rows: int
    total: int
    finished: str


@dataclass(frozen=True)
class Run:
    """One ``migrate --execute`` run as its journal rows tell it."""

    run_id: str
    started: str
    finished: str
    copies: tuple[Copy, ...] = ()
    interrupted: tuple[str, ...] = ()  # sources started and never done (rolled back)
    built: bool = False  # the run that built the target (the cutover)

    @property
    def rows(self) -> int:
        """Rows this run copied."""
        return sum(c.rows for c in self.copies)


@dataclass(frozen=True)
class AdapterWrites:
    """What legacy code wrote through the adapters to one table (and source value)."""

    table: str
    source: str
    writes: int  # log rows: every recorded insert, update and delete
    keys: int  # distinct keys, each with its last op
    ops: tuple[tuple[str, int], ...] = ()  # last op → keys


@dataclass(frozen=True)
class Pending:
    """Something the next ``migrate --execute`` will fold in."""

    store: str
    table: str
    target: str
    why: str
    rows: int | None = None


@dataclass(frozen=True)
class Backup:
    """A file under ``.dbfold/backups/``: a replaced target, kept."""

    path: str
    bytes: int
    when: str


@dataclass(frozen=True)
class TargetFacts:
    """What the target database records, read through sqlite3 read-only."""

    path: str
    exists: bool = False
    bytes: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # unified table → rows now
    runs: tuple[Run, ...] = ()
    writes: tuple[AdapterWrites, ...] = ()
    built_by: str | None = None
    error: str | None = None
    #: (size, mtime_ns) of each source's file at its last copy, by journal key.
    files: dict[tuple[str, str, str, str], tuple[int | None, int | None]] = field(
        default_factory=dict
    )


@dataclass(frozen=True)
class ReportFacts:
    """The report's input: plan, analysis, latest migration and verification, the target."""

    root: str
    plan: Plan
    analysis: Analysis | None
    migration: MigrationReport | None
    verify: VerifyReport | None
    verify_when: str
    target: TargetFacts
    backups: tuple[Backup, ...] = ()
    pending: tuple[Pending, ...] = ()
    generated: str = ""


def _saved(root: Path, kind: str) -> list[Path]:
    folder = root / ".dbfold" / REPORTS_DIR
    try:
        return sorted(folder.glob(f"*-{kind}.json"))
    except OSError:
        return []


def latest_migration(root: Path) -> tuple[MigrationReport | None, str]:
    """The newest executed migration report in ``.dbfold/reports/`` and its time stamp."""
    for path in reversed(_saved(root, "migrate")):
        try:
            report = MigrationReport.from_json(path.read_bytes())
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if report.executed:
            return report, path.name.split("-")[0]
    return None, ""


def latest_verify(root: Path) -> tuple[VerifyReport | None, str]:
    """The newest verification saved by ``dbfold verify`` and its time stamp."""
    for path in reversed(_saved(root, "verify")):
        try:
            return VerifyReport.from_json(path.read_bytes()), path.name.split("-")[0]
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return None, ""


def save_verify(report: VerifyReport, root: Path) -> Path:
    """Keep a verification as ``.dbfold/reports/<time>-verify.json`` (the report reads it)."""
    from dbfold.state import write_atomic

    path = root / ".dbfold" / REPORTS_DIR / f"{now_stamp()}-verify.json"
    write_atomic(path, report.to_json() + b"\n")
    return path


def read_target(path: Path, plan: Plan) -> TargetFacts:
    """The journal, the adapters' writes and the row counts of the target, read-only."""
    try:
        size = path.stat().st_size  # a stat, not an open: safe while anything holds it
    except OSError:
        return TargetFacts(str(path))
    try:
        with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as con:
            names = {
                name: kind
                for name, kind in con.execute(
                    "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
                )
            }
            rows = {
                t.name: int(con.execute(f"SELECT count(*) FROM {quote(t.name)}").fetchone()[0])
                for t in plan.tables
                if names.get(t.name) == "table"
            }
            runs = _runs(con) if names.get(journal.TABLE) == "table" else ()
            built = journal.get_meta(con, "built") if journal.META in names else None
            writes = _writes(con, names)
            files = {k: (e.file_size, e.file_mtime_ns) for k, e in journal.last_done(con).items()}
    except sqlite3.Error as exc:
        return TargetFacts(str(path), True, size, error=f"cannot be read ({exc})")
    runs = tuple(replace(r, built=r.run_id == built) for r in runs)
    return TargetFacts(str(path), True, size, rows, runs, writes, built, files=files)


def read_pg_target(target: PgTarget, plan: Plan) -> TargetFacts:
    """The same facts of a PostgreSQL target: its journal, row counts and size."""
    from dbfold.migrate import pg_schema
    from dbfold.migrate.pg_migrate import target_bytes

    try:
        con = target.connect(autocommit=True)
    except DbfoldError as exc:
        return TargetFacts(target.shown, False, error=str(exc))
    try:
        schema = target.schema
        names = set(pg_schema.tables_in(con, schema))
        if not names:
            return TargetFacts(target.shown)
        rows = {
            t.name: _count(con, f"{quote(schema)}.{quote(t.name)}")
            for t in plan.tables
            if t.name in names
        }
        done: tuple[Run, ...] = ()
        if pg_schema.JOURNAL in names:
            done = _runs_from(
                (*r[:8], _stamp(r[8]), _stamp(r[9]))
                for r in con.execute(
                    f"SELECT run_id, store, source_table, target_table, array_path, status,"
                    f" rows_copied, rows_total, started_at, finished_at"
                    f" FROM {quote(schema)}.{pg_schema.JOURNAL} ORDER BY id"
                ).fetchall()
            )
        size = target_bytes(con, schema)
    except Exception as exc:  # a driver error of any kind: the report still renders
        return TargetFacts(target.shown, True, error=f"cannot be read ({exc})")
    finally:
        con.close()
    built = done[0].run_id if done else None
    done = tuple(replace(r, built=r.run_id == built) for r in done)
    return TargetFacts(target.shown, True, size, rows, done, (), built)


def _count(con: Any, rel: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {rel}").fetchone()
    return int(row[0]) if row is not None else 0


@dataclass
class _RunRows:
    started: str
    finished: str
    copies: list[Copy] = field(default_factory=list)
    opened: dict[tuple[str, str, str, str], str] = field(default_factory=dict)


def _stamp(when: datetime | None) -> str | None:
    """A PostgreSQL journal time in the SQLite journal's form (``…T16:22:15.123Z``)."""
    if when is None:
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _runs(con: sqlite3.Connection) -> tuple[Run, ...]:
    return _runs_from(
        con.execute(
            f"SELECT run_id, store, source_table, target_table, array_path, status,"
            f" rows_copied, rows_total, started_at, finished_at FROM {journal.TABLE} ORDER BY id"
        )
    )


def _runs_from(rows: Iterable[Sequence[Any]]) -> tuple[Run, ...]:
    """The runs a journal's rows tell, in order (either target's journal)."""
    runs: dict[str, _RunRows] = {}
    for run_id, store, table, target, array, status, rows_copied, total, started, finished in rows:
        run = runs.setdefault(run_id, _RunRows(started, started))
        key = (store, table, target, array)
        if status == "started":
            run.opened[key] = f"{store}:{table}" + (f"[{array}]" if array else "")
        elif status == "done":
            run.opened.pop(key, None)
            run.copies.append(
                Copy(store, table, target, array, rows_copied, total, finished or started)
            )
            run.finished = max(run.finished, finished or started)
    return tuple(
        Run(run_id, r.started, r.finished, tuple(r.copies), tuple(r.opened.values()))
        for run_id, r in runs.items()
    )


def _writes(con: sqlite3.Connection, names: dict[str, str]) -> tuple[AdapterWrites, ...]:
    """Per table and source value: writes logged, keys written, keys per last op."""
    if names.get(LOG_TABLE) == "table":
        log = {
            (t, s): n
            for t, s, n in con.execute(
                f'SELECT "target_table", "source", count(*) FROM "{LOG_TABLE}" GROUP BY 1, 2'
            )
        }
    elif names.get(WRITES_TABLE) == "table":  # an older dbfold's: one row per key
        log = {}
    else:
        return ()
    last: dict[tuple[str, str], dict[str, int]] = {}
    if WRITES_TABLE in names:
        for t, s, op, n in con.execute(
            f'SELECT "target_table", "source", "op", count(*) FROM "{WRITES_TABLE}"'
            " GROUP BY 1, 2, 3"
        ):
            last.setdefault((t, s), {})[op] = n
    out = []
    for key in sorted(set(log) | set(last)):
        ops = last.get(key, {})
        keys = sum(ops.values())
        out.append(
            AdapterWrites(key[0], key[1], log.get(key, keys), keys, tuple(sorted(ops.items())))
        )
    return tuple(out)


def find_backups(root: Path) -> tuple[Backup, ...]:
    """Finished backups under ``.dbfold/backups/`` (``.partial`` ones are unfinished)."""
    folder = root / ".dbfold" / BACKUPS_DIR
    out = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return ()
    for p in entries:
        if p.name.endswith(".partial") or not p.is_file():
            continue
        st = p.stat()
        when = datetime.fromtimestamp(st.st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        out.append(Backup(str(p.relative_to(root)), st.st_size, when))
    return tuple(out)


def find_pending(
    root: Path,
    plan: Plan,
    target: TargetFacts,
    verify: VerifyReport | None,
    kinds: dict[str, str] | None = None,
) -> tuple[Pending, ...]:
    """What the next incremental run will fold in, as far as it can be seen cheaply.

    Rows the last verification counted beyond the journal's watermark, and stores whose
    file changed since their last copy (a stat of the file and its ``-wal``; nothing is
    opened), and sources that no run copied yet.
    """
    out: dict[tuple[str, str, str], Pending] = {}
    for check in verify.checks if verify else ():
        c = check
        if c.pending_rows:
            out[(c.store, c.table, c.target)] = Pending(
                c.store,
                c.table,
                c.target,
                "new rows beyond the journal's watermark at the last verification",
                c.pending_rows,
            )
    if not target.exists:
        return tuple(out.values())
    last: dict[tuple[str, str, str, str], Copy] = {}
    stamps: dict[tuple[str, str, str, str], str] = {}
    for run in target.runs:
        for copy in run.copies:
            last[(copy.store, copy.table, copy.target, copy.array)] = copy
            stamps[(copy.store, copy.table, copy.target, copy.array)] = run.run_id
    entries = target.files
    kinds = kinds or {}
    for t in plan.tables:
        for s in t.sources:
            key = (s.store, s.table, t.name, s.array or "")
            short = (s.store, s.table, t.name)
            if short in out:
                continue
            if key not in last:
                why = "not copied by any run yet"
                if kinds.get(s.store) == "shelve":
                    why = "never copied: shelve values are pickles (convert the store first)"
                out[short] = Pending(s.store, s.table, t.name, why)
                continue
            changed = _changed(root / s.store, entries.get(key))
            if changed:
                then = "the next run copies what is new" + (
                    " (rows above the rowid watermark)" if kinds.get(s.store) == "sqlite" else ""
                )
                out[short] = Pending(
                    s.store, s.table, t.name, f"{changed} since run {stamps[key]}; {then}"
                )
    return tuple(out.values())


def _changed(path: Path, seen: tuple[int | None, int | None] | None) -> str | None:
    """How a store's file differs from its last copy ('grew by 1,234 bytes'), or None.

    Compared as migrate fingerprints a store: size and newest mtime of the file and its
    ``-wal`` together (stat only; nothing is opened).
    """
    from dbfold.migrate.sqlsource import fingerprint

    if seen is None or seen[0] is None:
        return None
    try:
        size, mtime = fingerprint(path)
    except OSError:
        return "gone"
    if size != seen[0]:
        delta = size - seen[0]
        return f"{'grew' if delta > 0 else 'shrank'} by {abs(delta):,} bytes"
    if seen[1] is not None and mtime != seen[1]:
        return "written to (same size)"
    return None


def gather(
    root: Path,
    *,
    plan: Plan | None = None,
    analysis: Analysis | None = None,
    migration: MigrationReport | None = None,
    verify: VerifyReport | None = None,
    target: Path | None = None,
) -> ReportFacts:
    """Collect what the report shows; what is not given is read from ``.dbfold/``.

    Raises:
        UsageError: there is no plan yet.
    """
    from dbfold.errors import UsageError
    from dbfold.migrate import resolve_target
    from dbfold.state import load_analysis, load_plan

    if plan is None:
        plan = load_plan(root)
    if analysis is None:
        try:
            analysis = load_analysis(root)
        except UsageError:
            analysis = None
    migrated_at = ""
    if migration is None:
        migration, migrated_at = latest_migration(root)
    elif migration.report_path:  # saved as .dbfold/reports/<time>-migrate.json
        migrated_at = Path(migration.report_path).name.split("-")[0]
    else:
        migrated_at = now_stamp()
    verify_when = ""
    if verify is None:
        saved, saved_at = latest_verify(root)
        if saved is not None and saved_at >= migrated_at:
            verify, verify_when = saved, saved_at
        elif migration is not None and migration.verify is not None:
            verify, verify_when = migration.verify, migrated_at
    else:
        verify_when = now_stamp()
    from dbfold.migrate import resolve_pg

    pg = resolve_pg(plan) if target is None else None
    if pg is not None:
        facts = read_pg_target(pg, plan)
    else:
        if target is None:
            target = resolve_target(plan, root)
        facts = read_target(target, plan)
    return ReportFacts(
        str(root),
        plan,
        analysis,
        migration,
        verify,
        verify_when,
        facts,
        find_backups(root),
        find_pending(
            root, plan, facts, verify, {s.path: s.kind for s in analysis.stores} if analysis else {}
        ),
        now_stamp(),
    )

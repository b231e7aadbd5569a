"""Support of the lock-safety tests (a uniquely named module: ``conftest`` and ``helpers``
clash across test folders).

The issue ("Nothing lost, ever"): on POSIX, closing *any* descriptor of a file releases every
fcntl lock the process holds on that file, the locks of SQLite connections in other threads
included (sqlite.org/howtocorrupt.html §2.2); after ``fork`` a child's new connections to a
file its parent had open take no POSIX locks at all (§2.7). These helpers give the tests:

* :func:`build_project`: a small project (a rollback-journal and a WAL SQLite store, a JSON
  and a JSONL store) analysed, designed and migrated, its target already used once by
  :class:`~dbfold.UnifiedDatabase` (so in WAL mode, with the runtime's tables) and once by a
  ``JsonStore`` (so the adapters' view exists and no adapter has to take the write lock
  just to open).
* :data:`ENTRY_POINTS` and :func:`run_entry`: every public entry point, run the same way by
  the in-process audit test and by the subprocess workers.
* :func:`watching`: an audit hook (installed once per process, inert unless a test switches
  it on) that records every Python-level ``open`` of a file whose (st_dev, st_ino) is one
  of the SQLite databases (or ``-shm`` files) the process has open through sqlite3, with
  the innermost dbfold frame that caused it.
* :func:`probe_locks`: the fcntl probe, run in a separate process that never has the
  database open through SQLite while it probes.

Imports of dbfold stay inside the functions: spawned children of the stress test import
this module and should not pay for sqlglot.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
POSIX = os.name == "posix"
SKIP_REASON = "fcntl lock semantics (POSIX advisory locks, fork) are what these tests check"

#: The stores of the project, relative to its root.
ORDERS_DB = "app/orders.db"  # rollback journal
EVENTS_DB = "app/events.db"  # WAL
NOTES_JSON = "data/notes.json"
LOG_JSONL = "logs/log.jsonl"
SQLITE_STORES = (ORDERS_DB, EVENTS_DB)
#: The table every held database has, for rows the tests write and look for.
CANARY = "safety_canary"
CANARY_DDL = (
    f"CREATE TABLE IF NOT EXISTS {CANARY} "
    "(id INTEGER PRIMARY KEY, token TEXT NOT NULL, who TEXT NOT NULL)"
)

#: Every public entry point, one test case each.
ENTRY_POINTS = (
    "unified_database",
    "backup",
    "analyze",
    "design_probe",
    "migrate_dry_run",
    "migrate_new",
    "migrate_incremental",
    "migrate_force",
    "verify",
    "optimize",
    "adapters_connect",
    "adapters_install",
    "json_store",
    "jsonl_log",
)


# -- the project ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A built project: its root, the analysis and plan of its stores."""

    root: Path
    analysis: Any  # dbfold.model.Analysis
    plan: Any  # dbfold.plan.Plan

    @property
    def target(self) -> Path:
        """The unified database (the plan's target under the root)."""
        return self.root / self.plan.target

    @property
    def events(self) -> Path:
        """The WAL-mode SQLite store."""
        return self.root / EVENTS_DB


def _state(root: Path) -> Path:
    # Under .dbfold: analyze skips that folder, so these files are never taken for stores.
    return root / ".dbfold"


def build_project(root: Path) -> Project:
    """Build, analyse, design and migrate the project under ``root`` (see module doc)."""
    from dbfold import UnifiedDatabase
    from dbfold.adapters import JsonStore
    from dbfold.design import design
    from dbfold.migrate import migrate
    from dbfold.scan import analyze

    for folder in ("app", "data", "logs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(root / ORDERS_DB)
    con.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total REAL);
        """
    )
    con.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i}") for i in range(1, 21)])
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?)", [(i, i % 20 + 1, i * 1.5) for i in range(1, 61)]
    )
    con.commit()
    con.close()
    con = sqlite3.connect(root / EVENTS_DB)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, ts INTEGER)")
    con.executemany(
        "INSERT INTO events VALUES (?, ?, ?)", [(i, f"k{i % 3}", i * 10) for i in range(1, 51)]
    )
    con.commit()
    con.close()
    notes = [{"id": i, "title": f"t{i}", "meta": {"author": f"a{i % 4}"}} for i in range(1, 11)]
    (root / NOTES_JSON).write_text(json.dumps(notes), encoding="utf-8")
    lines = "".join(json.dumps({"ts": i, "kind": "x", "n": i}) + "\n" for i in range(1, 31))
    (root / LOG_JSONL).write_text(lines, encoding="utf-8")

    analysis = analyze(root)
    plan = design(analysis)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    project = Project(root, analysis, plan)
    # The host program has used the unified database through the runtime (WAL mode, the
    # runtime's tables); both it and the WAL store get a table for the tests' own rows (in
    # the store after the analysis, so the plan does not fold it into the target).
    with UnifiedDatabase(project.target) as db:
        db.execute(CANARY_DDL)
    con = sqlite3.connect(project.events)
    con.execute(CANARY_DDL)
    con.commit()
    con.close()
    JsonStore(NOTES_JSON, plan, project.target, analysis=analysis).close()
    _state(root).mkdir(exist_ok=True)
    (_state(root) / "safety-analysis.json").write_bytes(analysis.to_json())
    (_state(root) / "safety-plan.json").write_bytes(plan.to_json())
    return project


def load_project(root: Path) -> Project:
    """The project :func:`build_project` made under ``root`` (or a copy of it)."""
    from dbfold.model import Analysis
    from dbfold.plan import Plan

    analysis = Analysis.from_json((_state(root) / "safety-analysis.json").read_bytes())
    plan = Plan.from_json((_state(root) / "safety-plan.json").read_bytes())
    return Project(root, analysis, plan)


def copy_project(base: Path, dest: Path) -> Project:
    """A fresh copy of a built project (nothing has it open while it is copied)."""
    shutil.copytree(base, dest)
    return load_project(dest)


def remove_db(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        p.unlink(missing_ok=True)


def prepare_case(case: str, project: Project) -> None:
    """Shape a fresh copy for one entry point (before anything has it open)."""
    if case == "migrate_new":
        remove_db(project.target)  # a new build: no target yet
    elif case == "migrate_force":
        # A target dbfold did not make, in use by the host program (WAL mode).
        remove_db(project.target)
        con = sqlite3.connect(project.target)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(CANARY_DDL)
        con.execute(f"INSERT INTO {CANARY} (token, who) VALUES ('foreign', 'setup')")
        con.commit()
        con.close()
    elif case == "migrate_incremental":
        # The second run has something to do: two new rows in a rollback-journal source.
        con = sqlite3.connect(project.root / ORDERS_DB)
        con.executemany(
            "INSERT INTO orders (customer_id, total) VALUES (?, ?)", [(1, 0.5), (2, 0.25)]
        )
        con.commit()
        con.close()


def held_databases(project: Project) -> list[Path]:
    """The databases the host program of the lock tests holds: the unified target (when
    there is one; through ``UnifiedDatabase``) and the WAL-mode source store (through
    sqlite3, as legacy code does; the source-side entry points read it)."""
    out = [project.target] if project.target.exists() else []
    return [*out, project.events]


# -- the entry points -----------------------------------------------------------------------


def run_entry(
    case: str,
    project: Project,
    *,
    host: Any = None,
    write: bool = False,
    strict: bool = True,
    scratch: Path | None = None,
) -> str:
    """Run one public entry point over ``project``; returns a short description.

    Args:
        case: one of :data:`ENTRY_POINTS`.
        host: the host program's ``UnifiedDatabase`` on the target (``backup`` uses it).
        write: also write through the entry points that can (adapters, runtime).
        strict: check that the entry point did its job (off while another thread holds
            the write lock, when waiting for it may fail).
        scratch: a folder for files the entry point creates outside the project.
    """
    from dbfold import UnifiedDatabase
    from dbfold.adapters import JsonlLog, JsonStore, LegacyConnection, connect, install
    from dbfold.adapters import uninstall as uninstall_routes
    from dbfold.design import design, probe_sources
    from dbfold.migrate import migrate, verify
    from dbfold.optimize import optimize
    from dbfold.scan import analyze

    root, plan, analysis, target = project.root, project.plan, project.analysis, project.target
    timeout = 30.0 if strict else 1.0
    if case == "unified_database":
        with UnifiedDatabase(target, busy_timeout=timeout) as db:
            n = db.scalar(f"SELECT count(*) FROM {CANARY}")
            if write:
                db.insert(CANARY, token="entry", who="entry")
        return f"opened, {n} canary rows"
    if case == "backup":
        assert host is not None, "backup needs the host's UnifiedDatabase"
        dest = (scratch or root.parent) / "backup-copy.db"
        made = host.backup(dest)
        if strict:
            check = sqlite3.connect(made)
            try:
                assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            finally:
                check.close()
        return f"backup at {made.name}"
    if case == "analyze":
        found = analyze(root)
        paths = {s.path for s in found.stores}
        if strict:
            missing = {ORDERS_DB, EVENTS_DB, NOTES_JSON, LOG_JSONL} - paths
            assert not missing, f"analyze lost stores {missing}: {found.problems}"
        return f"stores {sorted(paths)}"
    if case == "design_probe":
        probed = probe_sources(design(analysis), analysis, root)
        texts = [s.text for s in probed.suggestions]
        if strict:
            assert any("(values:" in t for t in texts), texts
        return f"suggestions {texts}"
    if case == "migrate_dry_run":
        report = migrate(plan, analysis, root)
        assert not report.executed
        return "dry run"
    if case in ("migrate_new", "migrate_incremental", "migrate_force"):
        report = migrate(plan, analysis, root, execute=True, force=case == "migrate_force")
        if strict:
            assert report.verify is not None and report.verify.ok, report.verify
            want = "incremental" if case == "migrate_incremental" else "new"
            assert report.mode == want, report.mode
        return f"migrate {report.mode}"
    if case == "verify":
        checked = verify(plan, root, target, analysis=analysis)
        if strict:
            assert checked.ok, checked
        return "verified"
    if case == "optimize":
        done = optimize(target, timeout=timeout if strict else 0.5)
        if strict:
            assert done.ok, done
        return f"optimized: {', '.join(done.steps)}"
    if case == "adapters_connect":
        legacy = connect(ORDERS_DB, plan, target, root=root, analysis=analysis, timeout=timeout)
        try:
            return _use_legacy(legacy, write)
        finally:
            legacy.close()
    if case == "adapters_install":
        install(plan, root, target, analysis=analysis)
        try:
            routed = sqlite3.connect(str(root / ORDERS_DB), timeout=timeout)
            try:
                assert isinstance(routed, LegacyConnection), type(routed)
                return _use_legacy(routed, write)
            finally:
                routed.close()
        finally:
            uninstall_routes()
    if case == "json_store":
        with JsonStore(NOTES_JSON, plan, target, analysis=analysis) as store:
            n = len(store.load())
            if write:
                store.append({"id": 1000 + n, "title": "safety", "meta": {"author": "s"}})
        return f"{n} notes"
    if case == "jsonl_log":
        with JsonlLog(LOG_JSONL, plan, target, analysis=analysis) as log:
            n = len(list(log.read()))
            if write:
                log.append({"ts": 1000 + n, "kind": "safety", "n": n})
        return f"{n} log records"
    raise ValueError(f"unknown entry point {case!r}")


def _use_legacy(conn: Any, write: bool) -> str:
    n = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    if write:
        conn.execute("INSERT INTO orders (customer_id, total) VALUES (?, ?)", (3, 4.5))
        conn.commit()
    return f"{n} orders"


# -- the audit hook -------------------------------------------------------------------------

Key = tuple[int, int]


class _Audit:
    """The hook's switchable state (the hook itself can never be removed)."""

    installed = False
    active = False
    watched: dict[Key, str] = {}  # noqa: RUF012 - replaced as a whole, never mutated
    hits: list[str] = []  # noqa: RUF012
    local = threading.local()


def _package_dir() -> str:
    import dbfold

    return str(Path(dbfold.__file__).resolve().parent) + os.sep


def dbfold_frame(frame: FrameType | None) -> str:
    """``src/dbfold/…py:line:function`` of the innermost dbfold frame from ``frame`` out."""
    pkg = _package_dir()
    base = str(Path(pkg).parent.parent) + os.sep
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(pkg):
            return f"{name[len(base) :]}:{frame.f_lineno}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "<no dbfold frame>"


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _Audit.active or getattr(_Audit.local, "busy", False):
        return
    _Audit.local.busy = True
    try:
        what = args[0] if args else None
        try:
            st = os.fstat(what) if isinstance(what, int) else os.stat(what)  # type: ignore[arg-type]
        except (OSError, TypeError, ValueError):
            return  # a file that does not exist yet is none of the held ones
        label = _Audit.watched.get((st.st_dev, st.st_ino))
        if label is not None:
            where = dbfold_frame(sys._getframe(1))
            _Audit.hits.append(f"{where} opened {label}")
    finally:
        _Audit.local.busy = False


def install_hook() -> None:
    """Install the audit hook once per process (inert until :func:`watching`)."""
    if not _Audit.installed:
        sys.addaudithook(_hook)
        _Audit.installed = True


def identities(paths: Iterable[Path], root: Path | None = None) -> dict[Key, str]:
    """(st_dev, st_ino) of each database and of its ``-shm`` (when there is one), with its
    name (relative to ``root`` when given)."""
    out: dict[Key, str] = {}
    for path in paths:
        for p in (path, Path(f"{path}-shm")):
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(p)
                name = p.relative_to(root).as_posix() if root is not None else str(p)
                out[(st.st_dev, st.st_ino)] = name
    return out


@contextlib.contextmanager
def watching(paths: Iterable[Path], root: Path | None = None) -> Iterator[list[str]]:
    """Record every Python-level ``open`` of these databases (or their ``-shm``) meanwhile.

    Yields the list the hits are appended to: ``"<dbfold frame> opened <file>"``.
    """
    install_hook()
    hits: list[str] = []
    _Audit.watched = identities(paths, root)
    _Audit.hits = hits
    _Audit.active = True
    try:
        yield hits
    finally:
        _Audit.active = False
        _Audit.watched = {}


def unique(hits: list[str]) -> list[str]:
    return list(dict.fromkeys(hits))


# -- holding databases through sqlite3 ------------------------------------------------------


def hold_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection of the host program, with a read done (so its locks, and
    in WAL mode its ``-shm``, exist)."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return con


# -- the fcntl probe ------------------------------------------------------------------------

#: Run with ``python -c``: never opens a database through SQLite before its fcntl probes.
PROBE = r"""
import fcntl, json, os, sqlite3, sys

def probe(path, start, length):
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return "missing"
    try:
        try:
            # F_SETLK with F_WRLCK: refused while any other process holds a lock there.
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start, os.SEEK_SET)
        except OSError:
            return "locked"
        fcntl.lockf(fd, fcntl.LOCK_UN, length, start, os.SEEK_SET)
        return "free"
    finally:
        os.close(fd)

out = {}
for db in sys.argv[1:]:
    state = {
        "db SHARED range": probe(db, 0x40000002, 510),
        "-shm WAL write lock (byte 120)": probe(db + "-shm", 120, 1),
        "-shm DMS (byte 128)": probe(db + "-shm", 128, 1),
    }
    con = sqlite3.connect(db, timeout=0.1, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        state["BEGIN IMMEDIATE"] = "free"
    except sqlite3.OperationalError as exc:
        text = str(exc)
        state["BEGIN IMMEDIATE"] = "locked" if "locked" in text or "busy" in text else text
    finally:
        con.close()
    out[db] = state
print(json.dumps(out))
"""

LOCKED = {
    "db SHARED range": "locked",
    "-shm WAL write lock (byte 120)": "locked",
    "-shm DMS (byte 128)": "locked",
    "BEGIN IMMEDIATE": "locked",
}


def probe_locks(paths: Iterable[Path]) -> dict[str, dict[str, str]]:
    """Probe the fcntl locks on each database from a separate process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"lock probe failed: {done.stderr}")
    result: dict[str, dict[str, str]] = json.loads(done.stdout)
    return result


#: Run with ``python -c``: counts, integrity and canary tokens of each database.
LOOK = r"""
import json, sqlite3, sys

out = {}
for db in sys.argv[1:]:
    con = sqlite3.connect(db, timeout=10)
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        counts = {n: con.execute('SELECT count(*) FROM "%s"' % n.replace('"', '""')).fetchone()[0]
                  for n in names}
        tokens = []
        if "safety_canary" in names:
            tokens = [r[0] for r in con.execute("SELECT token FROM safety_canary ORDER BY id")]
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        out[db] = {"counts": counts, "tokens": tokens, "integrity": integrity}
    finally:
        con.close()
print(json.dumps(out))
"""


def look(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """What a new process sees in each database: table counts, canary tokens, integrity."""
    done = subprocess.run(
        [sys.executable, "-c", LOOK, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"looking at the databases failed: {done.stderr}")
    result: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return result


#: Run with ``python -c``: another process writes one canary row to each database, closes.
WRITE_AND_CLOSE = r"""
import sqlite3, sys

token = sys.argv[1]
for db in sys.argv[2:]:
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    con.execute("INSERT INTO safety_canary (token, who) VALUES (?, 'other process')", (token,))
    con.close()
"""


def write_from_other_process(token: str, paths: Iterable[Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WRITE_AND_CLOSE, token, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the other process could not write: {done.stderr}")


# -- running the workers --------------------------------------------------------------------


def run_worker(script: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``tests/safety/<script>`` in a fresh interpreter; return its JSON result (the
    last line of its output)."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"{script} {' '.join(args)} exited with {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__name__}: {exc}"


# -- the stress test's writers --------------------------------------------------------------

STRESS_SCHEMA = "CREATE TABLE stress_rows (id INTEGER PRIMARY KEY, who TEXT NOT NULL, n INTEGER);"
_STRESS: list[type] = []


def stress_database() -> type:
    """The stress test's ``UnifiedDatabase`` subclass (made on first use: dbfold is only
    imported by the processes that write)."""
    if not _STRESS:
        from dbfold import UnifiedDatabase

        class StressDatabase(UnifiedDatabase):
            SCHEMA_VERSION = "1.0.0"

            def get_schema(self) -> str:
                return STRESS_SCHEMA

        _STRESS.append(StressDatabase)
    return _STRESS[0]


def stress_write(path: str, who: str, loops: int, rows: int) -> None:
    """Construct and close a database ``loops`` times, each time inserting ``rows`` rows and
    recording one operation."""
    cls = stress_database()
    for n in range(loops):
        db = cls(path)
        try:
            op = db.start_operation("stress", who=who, n=n)
            for i in range(rows):
                db.insert("stress_rows", who=who, n=n * rows + i)
            db.complete_operation(op.operation_id, rows=rows)
        finally:
            db.close()


def stress_process(path: str, who: str, loops: int, rows: int, folder: str) -> None:
    """A writing process: say ready, wait for the start, write; failures go to a file."""
    import time

    base = Path(folder)
    (base / f"ready-{who}").touch()
    deadline = time.monotonic() + 60
    while not (base / "go").exists():
        if time.monotonic() > deadline:
            (base / f"error-{who}").write_text("never started")
            return
        time.sleep(0.002)
    try:
        stress_write(path, who, loops, rows)
    except BaseException as exc:
        import traceback

        (base / f"error-{who}").write_text(f"{describe_error(exc)}\n{traceback.format_exc()}")


def describe(result: dict[str, Any]) -> str:
    """What a worker's entry point did, for a failure message: outcome, plain opens, traceback."""
    b = result["b"]
    lines = [f"entry point: {b.get('outcome')}"]
    opens = b.get("opens") or []
    if opens:
        lines.append("plain opens of held files during the entry point (audit hook):")
        lines += [f"  {o}" for o in opens]
    if b.get("traceback"):
        lines.append(b["traceback"])
    return "\n".join(lines)

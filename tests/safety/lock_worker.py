"""Worker of the lock canary and consequence tests: one entry point in a fresh process.

    python lock_worker.py canary|consequence CASE PROJECT_ROOT SCRATCH

A lost fcntl lock stays lost for the life of the process, so every case runs in its own
interpreter. The host program holds the unified database through ``UnifiedDatabase`` and
the WAL-mode store through a plain sqlite3 connection (as legacy code does); the entry point
runs in another thread. Prints one JSON line with what it saw; the tests judge it.

canary: thread A holds ``db.transaction()`` on the unified database (and a write transaction
on the store), each with a row written; the locks are probed from a separate process before
and after thread B runs the entry point; then A commits and a new process looks for the rows.

consequence: A holds idle connections (rows committed); B runs the entry point, writing
where it can; another process writes to each held database and closes; then ``-wal`` and
``-shm`` must still exist, A commits again, and a new process must see every row.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from safety_support import (
    CANARY,
    held_databases,
    load_project,
    look,
    probe_locks,
    run_entry,
    unique,
    watching,
    write_from_other_process,
)

from dbfold import UnifiedDatabase
from dbfold.errors import DbfoldError

#: Seconds the entry point may take before the worker stops waiting for it.
ENTRY_TIMEOUT = 60.0


class Host:
    """The host program: ``UnifiedDatabase`` on the target, sqlite3 on the WAL store."""

    def __init__(self, held: list[Path], target: Path) -> None:
        self.target = target
        self.db: UnifiedDatabase | None = None
        self.cons: dict[Path, sqlite3.Connection] = {}
        for path in held:
            if path == target:
                self.db = UnifiedDatabase(path, busy_timeout=5.0)
                self.db.scalar(f"SELECT count(*) FROM {CANARY}")
            else:
                con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                con.execute(f"SELECT count(*) FROM {CANARY}").fetchone()
                self.cons[path] = con

    def insert(self, token: str) -> None:
        """Commit one canary row to every held database."""
        if self.db is not None:
            self.db.insert(CANARY, token=token, who="host")
        for con in self.cons.values():
            con.execute(f"INSERT INTO {CANARY} (token, who) VALUES (?, 'host')", (token,))

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per table of every held database, as the host sees them."""
        out: dict[str, dict[str, int]] = {}
        if self.db is not None:
            names = [r[0] for r in self.db.query(_TABLES)]
            out[str(self.target)] = {n: self.db.count(n) for n in names}
        for path, con in self.cons.items():
            names = [r[0] for r in con.execute(_TABLES)]
            out[str(path)] = {
                n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names
            }
        return out

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        for con in self.cons.values():
            con.close()


_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"


def _entry(case: str, root: Path, scratch: Path, host: Host, *, write: bool) -> dict[str, Any]:
    """Run the entry point in thread B (under the audit hook, for the report)."""
    project = load_project(root)
    result: dict[str, Any] = {}
    held = [*host.cons, *([host.target] if host.db is not None else [])]

    def b() -> None:
        try:
            with watching(held, root) as hits:
                try:
                    result["outcome"] = run_entry(
                        case, project, host=host.db, write=write, strict=write, scratch=scratch
                    )
                finally:
                    result["opens"] = unique(hits)
        except DbfoldError as exc:
            result["outcome"] = f"refused: {type(exc).__name__}: {exc}"
        except BaseException as exc:
            result["outcome"] = f"error: {type(exc).__name__}: {exc}"
            result["traceback"] = traceback.format_exc()

    thread = threading.Thread(target=b, name="B")
    thread.start()
    thread.join(ENTRY_TIMEOUT)
    if thread.is_alive():
        result["outcome"] = f"still running after {ENTRY_TIMEOUT:g} s"
    return result


def canary(case: str, root: Path, scratch: Path) -> dict[str, Any]:
    project = load_project(root)
    held = held_databases(project)
    host = Host(held, project.target)
    ready, release = threading.Event(), threading.Event()
    a_error: list[str] = []
    token = f"canary-{case}"

    def a() -> None:
        try:
            with ExitStack() as stack:
                if host.db is not None:
                    stack.enter_context(host.db.transaction())
                    host.db.insert(CANARY, token=token, who="A")
                for con in host.cons.values():
                    con.execute("BEGIN IMMEDIATE")
                    con.execute(f"INSERT INTO {CANARY} (token, who) VALUES (?, 'A')", (token,))
                ready.set()
                release.wait(ENTRY_TIMEOUT * 2)
                for con in host.cons.values():
                    con.execute("COMMIT")
        except BaseException as exc:
            a_error.append(f"{type(exc).__name__}: {exc}")
            ready.set()

    thread_a = threading.Thread(target=a, name="A")
    thread_a.start()
    ready.wait(30)
    before = probe_locks(held)
    b = _entry(case, root, scratch, host, write=False)
    after = probe_locks(held)
    release.set()
    thread_a.join(30)
    seen = look(held)
    host.close()
    return {
        "held": [str(p) for p in held],
        "before": before,
        "after": after,
        "b": b,
        "a_error": a_error,
        "token": token,
        "seen": seen,
    }


def consequence(case: str, root: Path, scratch: Path) -> dict[str, Any]:
    project = load_project(root)
    held = held_databases(project)
    host = Host(held, project.target)
    host.insert("first")
    # Another thread of the host reads too, so the host has several connections open.
    reader = threading.Thread(target=host.counts)
    reader.start()
    reader.join()
    b = _entry(case, root, scratch, host, write=True)
    believed = host.counts()
    write_from_other_process("other", held)
    companions = {str(p): {s: Path(f"{p}{s}").exists() for s in ("-wal", "-shm")} for p in held}
    a_error = ""
    try:
        host.insert("next")
    except BaseException as exc:
        a_error = f"{type(exc).__name__}: {exc}"
    seen = look(held)
    host.close()
    return {
        "held": [str(p) for p in held],
        "b": b,
        "believed": believed,
        "companions": companions,
        "a_error": a_error,
        "seen": seen,
    }


def main() -> None:
    mode, case, root, scratch = sys.argv[1:5]
    run = {"canary": canary, "consequence": consequence}[mode]
    print(json.dumps(run(case, Path(root), Path(scratch))))


if __name__ == "__main__":
    main()

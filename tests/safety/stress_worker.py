"""Worker of the stress test: threads and processes writing one database, repeatedly.

    python stress_worker.py FOLDER REPETITIONS LOOPS ROWS

Each repetition uses a new database: 2 processes forked first (before this process opens
it), then the schema is made, 3 spawned processes start, and once they are ready all of
them and 8 threads of this process start together. Every writer constructs and closes its
own ``UnifiedDatabase`` ``LOOPS`` times, inserting ``ROWS`` rows and recording one
operation each time. Prints one JSON line: per repetition the counts, the integrity check
and every error.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from safety_support import describe_error, stress_database, stress_process

THREADS, SPAWNED, FORKED = 8, 3, 2


def repetition(folder: Path, loops: int, rows: int) -> dict[str, Any]:
    folder.mkdir(parents=True)
    path = str(folder / "stress.db")
    forked = []
    for k in range(FORKED):
        pid = os.fork()
        if pid == 0:  # nothing of the database is open in this process yet
            code = 1
            try:
                stress_process(path, f"forked-{k}", loops, rows, str(folder))
                code = 0
            finally:
                os._exit(code)
        forked.append(pid)
    stress_database()(path).close()  # the schema, before anyone races to make it
    ctx = multiprocessing.get_context("spawn")
    spawned = [
        ctx.Process(target=stress_process, args=(path, f"spawned-{k}", loops, rows, str(folder)))
        for k in range(SPAWNED)
    ]
    for p in spawned:
        p.start()
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=stress_process, args=(path, f"thread-{k}", loops, rows, str(folder))
        )
        for k in range(THREADS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(list(folder.glob("ready-*"))) < THREADS + SPAWNED + FORKED:
        if time.monotonic() > deadline:
            errors.append("writers never got ready")
            break
        time.sleep(0.005)
    (folder / "go").touch()
    for t in threads:
        t.join(120)
        if t.is_alive():
            errors.append(f"{t.name} still running")
    for p in spawned:
        p.join(120)
        if p.exitcode != 0:
            errors.append(f"spawned process exit code {p.exitcode}")
    for pid in forked:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            errors.append(f"forked process wait status {status}")
    errors += [f"{e.name}: {e.read_text()}" for e in sorted(folder.glob("error-*"))]
    writers = THREADS + SPAWNED + FORKED
    con = sqlite3.connect(path, timeout=30)
    try:
        stored = con.execute("SELECT count(*), count(DISTINCT who) FROM stress_rows").fetchone()
        ops = con.execute(
            "SELECT count(*) FROM dbfold_operations WHERE kind = 'stress' AND status = 'completed'"
        ).fetchone()[0]
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
    except sqlite3.Error as exc:
        stored, ops, integrity = (None, None), None, [describe_error(exc)]
    finally:
        con.close()
    return {
        "rows": stored[0],
        "writers": stored[1],
        "want rows": writers * loops * rows,
        "operations": ops,
        "want operations": writers * loops,
        "integrity": integrity,
        "errors": errors,
    }


def main() -> None:
    folder, reps, loops, rows = Path(sys.argv[1]), *map(int, sys.argv[2:5])
    started = time.monotonic()
    out = [repetition(folder / f"rep-{i}", loops, rows) for i in range(reps)]
    print(json.dumps({"repetitions": out, "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()

"""Operations per second: dbfold's operation log against raw sqlite3, same run, same file setup.

Each operation is a start plus a complete. The raw baseline executes the very statements
dbfold executes (``START_SQL``/``FINISH_SQL``) with the same pragmas and the same values
(ISO timestamps, JSON metadata), on its own connection per thread, so the ratio shows what
the runtime's bookkeeping costs. Prints medians of several repeats and the ratios
dbfold/raw and 8-thread/1-thread (total throughput).

Usage: ``python benchmarks/runtime.py [--quick]``
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dbfold.runtime import UnifiedDatabase
from dbfold.runtime.jsoncols import dump_json
from dbfold.runtime.operations import FINISH_SQL, OPERATIONS_DDL, START_SQL, process_token
from dbfold.runtime.timeutil import now_iso
from dbfold.runtime.versions import HISTORY_DDL


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def raw_setup(path: Path) -> None:
    conn = raw_connect(path)
    conn.executescript(HISTORY_DDL + ";" + OPERATIONS_DDL)
    conn.close()


def raw_worker(path: Path, count: int) -> None:
    conn = raw_connect(path)
    pid, host = os.getpid(), socket.gethostname()
    token = process_token(pid)
    for n in range(count):
        began = time.monotonic()
        op_id = conn.execute(
            START_SQL, ("bench", dump_json({"n": n}), None, pid, host, token, now_iso())
        ).lastrowid
        now = now_iso()
        conn.execute(
            FINISH_SQL,
            ("completed", now, time.monotonic() - began, now, None, None, op_id),
        )
    conn.close()


def dbfold_worker(db: UnifiedDatabase, count: int) -> None:
    for n in range(count):
        op = db.start_operation("bench", n=n)
        db.complete_operation(op.operation_id)


def timed(threads: int, per_thread: int, work: Callable[[], None]) -> float:
    """Run ``work`` in ``threads`` threads; return total operations per second."""
    workers = [threading.Thread(target=work) for _ in range(threads)]
    began = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return threads * per_thread / (time.perf_counter() - began)


def run_raw(folder: Path, threads: int, per_thread: int) -> float:
    path = folder / f"raw-{time.perf_counter_ns()}.db"
    raw_setup(path)
    return timed(threads, per_thread, lambda: raw_worker(path, per_thread))


def run_dbfold(folder: Path, threads: int, per_thread: int) -> float:
    path = folder / f"dbfold-{time.perf_counter_ns()}.db"
    with UnifiedDatabase(path) as db:
        return timed(threads, per_thread, lambda: dbfold_worker(db, per_thread))


def opens_per_second(path: Path, count: int, *, dbfold: bool) -> float:
    """Open, read once and close, ``count`` times: what one instance per worker costs."""
    started = time.perf_counter()
    for _ in range(count):
        if dbfold:
            db = UnifiedDatabase(path)
            db.scalar("SELECT 1")
            db.close()
        else:
            conn = raw_connect(path)
            conn.execute("SELECT 1").fetchone()
            conn.close()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations and repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    single = 2000 if args.quick else 5000
    per_thread = 300 if args.quick else 1000
    results: dict[str, list[float]] = {k: [] for k in ("raw1", "dbfold1", "raw8", "dbfold8")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run_dbfold(folder, 1, 200)  # warm-up: imports, page cache
        run_raw(folder, 1, 200)
        for _ in range(repeats):
            # Interleaved so drift (thermal, page cache) hits both sides alike.
            results["raw1"].append(run_raw(folder, 1, single))
            results["dbfold1"].append(run_dbfold(folder, 1, single))
            results["raw8"].append(run_raw(folder, 8, per_thread))
            results["dbfold8"].append(run_dbfold(folder, 8, per_thread))
        opens: dict[str, list[float]] = {"raw": [], "dbfold": []}
        target = folder / "opens.db"
        UnifiedDatabase(target).close()
        for _ in range(repeats):
            opens["raw"].append(opens_per_second(target, 300, dbfold=False))
            opens["dbfold"].append(opens_per_second(target, 300, dbfold=True))
    med = {key: statistics.median(values) for key, values in results.items()}
    print(f"operations/s (start+complete), median of {repeats} runs")
    print(f"  raw sqlite3, 1 thread   {med['raw1']:10.0f}")
    print(f"  dbfold,      1 thread   {med['dbfold1']:10.0f}")
    print(f"  raw sqlite3, 8 threads  {med['raw8']:10.0f}")
    print(f"  dbfold,      8 threads  {med['dbfold8']:10.0f}")
    print("ratios")
    print(f"  dbfold/raw, 1 thread         {med['dbfold1'] / med['raw1']:.2f}  (target >= 0.80)")
    print(f"  dbfold/raw, 8 threads        {med['dbfold8'] / med['raw8']:.2f}")
    print(f"  dbfold 8 threads / 1 thread  {med['dbfold8'] / med['dbfold1']:.2f}  (target >= 0.80)")
    print(f"  raw 8 threads / 1 thread     {med['raw8'] / med['raw1']:.2f}")
    raw_opens, dbfold_opens = (statistics.median(opens[k]) for k in ("raw", "dbfold"))
    print(f"open + one read + close per second, median of {repeats} runs")
    print(f"  raw sqlite3 (same pragmas)   {raw_opens:10.0f}")
    print(f"  UnifiedDatabase()            {dbfold_opens:10.0f}")
    print(f"  dbfold/raw                   {dbfold_opens / raw_opens:.2f}")


if __name__ == "__main__":
    main()

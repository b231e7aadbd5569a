"""Operations per second: dbfold's operation log against hand-written trackers, same run.

Each operation is a start plus a complete. Two baselines run in the same process, rounds
interleaved with dbfold's so that drift hits every side alike:

* **hand tracker**: what a project writes by hand without dbfold: a plain table
  ``ops(id, kind, status, started_at, finished_at, metadata)``, WAL, ``synchronous=NORMAL``,
  autocommit, one INSERT and one UPDATE per operation, ``time.time()`` timestamps and
  ``json.dumps`` metadata, on its own connection per thread. The goals are against this one:
  dbfold at least 0.8 of it with 1 and with 8 threads.
* **same statements**: raw sqlite3 running exactly dbfold's statements (``START_SQL``,
  ``FINISH_SQL``) on dbfold's table with dbfold's helpers and values (ISO timestamps, JSON
  metadata, process token), one connection per thread. dbfold against it shows what the
  runtime's Python bookkeeping costs; the hand tracker against it what the richer row
  (pid, host, process, duration, ISO text) costs in SQLite.

Also: dbfold 8 threads against dbfold 1 thread (total throughput, goal 0.8), and, without
goals, per-call ``insert``/``query``/``execute`` against raw sqlite3 running the same statement,
and opening an instance against opening a connection. Every figure is the median of several
runs; the spreads (min..max) follow the figures.

With ``--target postgresql://…`` the same operations run on PostgreSQL instead, against raw
psycopg running exactly dbfold's statements (``PG_START_SQL``, ``PG_FINISH_SQL`` with the
placeholders translated) with the same values, one autocommit connection per thread; goal
0.8 with 1 and with 8 threads. The tables are created in that database (it should be a
scratch one) and emptied between rounds.

Usage: ``python benchmarks/runtime.py [--quick] [--target postgresql://…]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dbfold.runtime import UnifiedDatabase
from dbfold.runtime.dialect import to_pg
from dbfold.runtime.jsoncols import dump_json
from dbfold.runtime.operations import (
    FINISH_SQL,
    OPERATIONS_DDL,
    PG_FINISH_SQL,
    PG_START_SQL,
    START_SQL,
    process_token,
)
from dbfold.runtime.timeutil import now_iso
from dbfold.runtime.versions import HISTORY_DDL
from figures import HEADER, figure, median, spread

HAND_DDL = (
    "CREATE TABLE ops(id INTEGER PRIMARY KEY, kind TEXT, status TEXT, "
    "started_at REAL, finished_at REAL, metadata TEXT)"
)
HAND_START = "INSERT INTO ops (kind, status, started_at, metadata) VALUES (?, 'running', ?, ?)"
HAND_FINISH = "UPDATE ops SET status = 'completed', finished_at = ? WHERE id = ?"


def raw_connect(path: Path, *, foreign_keys: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if foreign_keys:
        conn.execute("PRAGMA foreign_keys=ON")
    return conn


# -- the three operation trackers ------------------------------------------------------


def hand_setup(path: Path) -> None:
    conn = raw_connect(path, foreign_keys=False)
    conn.execute(HAND_DDL)
    conn.close()


def hand_worker(path: Path, count: int) -> None:
    conn = raw_connect(path, foreign_keys=False)
    for n in range(count):
        op_id = conn.execute(HAND_START, ("bench", time.time(), json.dumps({"n": n}))).lastrowid
        conn.execute(HAND_FINISH, (time.time(), op_id))
    conn.close()


def same_setup(path: Path) -> None:
    conn = raw_connect(path)
    conn.executescript(HISTORY_DDL + ";" + OPERATIONS_DDL)
    conn.close()


def same_worker(path: Path, count: int) -> None:
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


def fresh(folder: Path, name: str) -> Path:
    return folder / f"{name}-{time.perf_counter_ns()}.db"


def run_hand(folder: Path, threads: int, per_thread: int) -> float:
    path = fresh(folder, "hand")
    hand_setup(path)
    return timed(threads, per_thread, lambda: hand_worker(path, per_thread))


def run_same(folder: Path, threads: int, per_thread: int) -> float:
    path = fresh(folder, "same")
    same_setup(path)
    return timed(threads, per_thread, lambda: same_worker(path, per_thread))


def run_dbfold(folder: Path, threads: int, per_thread: int) -> float:
    with UnifiedDatabase(fresh(folder, "dbfold")) as db:
        return timed(threads, per_thread, lambda: dbfold_worker(db, per_thread))


# -- per-call data API -----------------------------------------------------------------

ITEMS_DDL = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, data JSON)"
ITEMS_INSERT = 'INSERT INTO "items" ("name", "price", "data") VALUES (?, ?, ?)'
ITEMS_GET = "SELECT * FROM items WHERE id = ?"
ITEMS_TOUCH = "UPDATE items SET price = price + 1 WHERE id = ?"


class Items(UnifiedDatabase):
    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return ITEMS_DDL


def calls_per_second(count: int, call: Callable[[int], object]) -> float:
    began = time.perf_counter()
    for n in range(count):
        call(n)
    return count / (time.perf_counter() - began)


def data_api(folder: Path, count: int) -> dict[str, float]:
    """One round of insert/query/execute, dbfold and raw sqlite3 on files of their own."""
    out: dict[str, float] = {}
    with Items(fresh(folder, "items")) as db:
        out["insert"] = calls_per_second(
            count, lambda n: db.insert("items", name=f"item {n}", price=1.5, data={"n": n})
        )
        out["query"] = calls_per_second(count, lambda n: db.query(ITEMS_GET, (n % count + 1,)))
        out["execute"] = calls_per_second(count, lambda n: db.execute(ITEMS_TOUCH, (n + 1,)))
    path = fresh(folder, "items-raw")
    conn = raw_connect(path)
    conn.execute(ITEMS_DDL)
    out["raw insert"] = calls_per_second(
        count,
        lambda n: conn.execute(ITEMS_INSERT, (f"item {n}", 1.5, json.dumps({"n": n}))).lastrowid,
    )
    out["raw query"] = calls_per_second(
        count, lambda n: conn.execute(ITEMS_GET, (n % count + 1,)).fetchall()
    )
    out["raw execute"] = calls_per_second(
        count, lambda n: conn.execute(ITEMS_TOUCH, (n + 1,)).rowcount
    )
    conn.close()
    return out


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


# -- PostgreSQL ---------------------------------------------------------------------------


def pg_same_worker(url: str, count: int) -> None:
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    start, finish = to_pg(PG_START_SQL), to_pg(PG_FINISH_SQL)
    pid, host = os.getpid(), socket.gethostname()
    token = process_token(pid)
    for n in range(count):
        began = time.monotonic()
        row = conn.execute(
            start, ("bench", dump_json({"n": n}), None, pid, host, token, now_iso())
        ).fetchone()
        assert row is not None
        now = now_iso()
        conn.execute(finish, ("completed", now, time.monotonic() - began, now, None, None, row[0]))
    conn.close()


def pg_main(url: str, quick: bool) -> None:
    repeats = 5 if quick else 7
    single = 1500 if quick else 3000
    per_thread = 300 if quick else 600
    runs: dict[str, list[float]] = {}
    with UnifiedDatabase(url) as db:

        def empty() -> None:
            db.execute("TRUNCATE dbfold_operations")

        for _ in range(repeats):
            for threads, count in ((1, single), (8, per_thread)):
                empty()
                runs.setdefault(f"same{threads}", []).append(
                    timed(threads, count, lambda c=count: pg_same_worker(url, c))
                )
                empty()
                runs.setdefault(f"dbfold{threads}", []).append(
                    timed(threads, count, lambda c=count: dbfold_worker(db, c))
                )
        empty()
    med = {key: median(values) for key, values in runs.items()}
    print(f"PostgreSQL operations/s (start + complete; 8 threads: total), median of {repeats}")
    print(HEADER)
    figure("pg ops 1 thread: dbfold / raw psycopg", med["dbfold1"], med["same1"], 0.8)
    figure("pg ops 8 threads: dbfold / raw psycopg", med["dbfold8"], med["same8"], 0.8)
    figure("pg ops dbfold: 8 threads / 1 thread", med["dbfold8"], med["dbfold1"], None)
    print("spreads (min..max of the runs):")
    for key, values in runs.items():
        print(f"  {key:14s} {spread(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations and repeats")
    parser.add_argument("--target", help="a scratch postgresql:// database: measure it instead")
    args = parser.parse_args()
    if args.target:
        pg_main(args.target, args.quick)
        return
    repeats = 5 if args.quick else 9
    single = 3000 if args.quick else 6000
    per_thread = 400 if args.quick else 1000
    calls = 2000 if args.quick else 5000
    runs: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        runs.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="dbfold-bench-runtime-") as tmp:
        folder = Path(tmp)
        for warm in (run_hand, run_same, run_dbfold):  # imports, page cache, statement caches
            warm(folder, 1, 200)
        for _ in range(repeats):
            # Interleaved so drift (thermal, page cache, neighbours) hits every side alike.
            for threads, count in ((1, single), (8, per_thread)):
                add(f"hand{threads}", run_hand(folder, threads, count))
                add(f"same{threads}", run_same(folder, threads, count))
                add(f"dbfold{threads}", run_dbfold(folder, threads, count))
            for key, value in data_api(folder, calls).items():
                add(key, value)
        target = folder / "opens.db"
        UnifiedDatabase(target).close()
        for _ in range(repeats):
            add("raw opens", opens_per_second(target, 300, dbfold=False))
            add("dbfold opens", opens_per_second(target, 300, dbfold=True))
    med = {key: median(values) for key, values in runs.items()}
    print(
        f"operations/s (start + complete; 8 threads: total), median of {repeats} runs; "
        "per-call figures in calls/s"
    )
    print(HEADER)
    figure("ops 1 thread: dbfold / hand tracker", med["dbfold1"], med["hand1"], 0.8)
    figure("ops 8 threads: dbfold / hand tracker", med["dbfold8"], med["hand8"], 0.8)
    figure("ops dbfold: 8 threads / 1 thread", med["dbfold8"], med["dbfold1"], 0.8)
    figure("ops 1 thread: dbfold / same statements", med["dbfold1"], med["same1"], None)
    figure("ops 8 threads: dbfold / same statements", med["dbfold8"], med["same8"], None)
    figure("ops 1 thread: same statements / hand", med["same1"], med["hand1"], None)
    figure("ops hand tracker: 8 threads / 1 thread", med["hand8"], med["hand1"], None)
    for call in ("insert", "query", "execute"):
        figure(f"{call}() / raw sqlite3, same statement", med[call], med[f"raw {call}"], None)
    figure("open + one read + close / raw sqlite3", med["dbfold opens"], med["raw opens"], None)
    print("spreads (min..max of the runs):")
    for key, values in runs.items():
        print(f"  {key:14s} {spread(values)}")


if __name__ == "__main__":
    main()

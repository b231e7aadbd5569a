"""Many threads and processes writing one database: nothing lost, never "locked"."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _runtime_workers import bump_counter, record_operations, use_inherited

from dbfold.runtime import DatabaseBusyError, UnifiedDatabase


def test_threads_and_processes(target: str, engine: str) -> None:
    # Every PostgreSQL commit waits for its WAL flush: fewer operations keep the run short.
    threads, per_thread, procs, per_proc = (
        (8, 1000, 4, 500) if engine == "sqlite" else (8, 150, 4, 150)
    )
    with UnifiedDatabase(target) as db:
        ctx = multiprocessing.get_context("spawn")
        children = [
            ctx.Process(target=record_operations, args=(target, per_proc, f"proc-{i}"))
            for i in range(procs)
        ]
        for child in children:
            child.start()
        # Start the threads once a child writes, so processes and threads really overlap.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not db.scalar(
            "SELECT count(*) FROM dbfold_operations WHERE kind LIKE 'proc-%'"
        ):
            time.sleep(0.01)

        def work(worker: int) -> None:
            for n in range(per_thread):
                op = db.start_operation(f"thread-{worker}", n=n)
                if n % 10 == 0:
                    with db.transaction():
                        op.checkpoint({"n": n})
                db.complete_operation(op.operation_id)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, range(threads)))
        for child in children:
            child.join(120)
            assert child.exitcode == 0
        stats = db.operation_stats()
        assert sum(s.count for s in stats.values()) == threads * per_thread + procs * per_proc
        assert all(s.completed == s.count for s in stats.values())
        assert stats["thread-0"].count == per_thread and stats["proc-0"].count == per_proc


def test_fork_children_reconnect(target: str) -> None:
    with UnifiedDatabase(target) as db:
        db.start_operation("parent").complete()  # the parent holds an open connection
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=use_inherited, args=(db, 200, "forked")) for _ in range(3)]
        for child in children:
            child.start()
        for n in range(200):
            with db.operation("parent-loop", n=n):
                pass
        for child in children:
            child.join(60)
            assert child.exitcode == 0
        stats = db.operation_stats()
        assert stats["forked"].completed == 600
        assert stats["parent-loop"].completed == 200
        db.start_operation("after").complete()  # the parent's connection still works


def test_bounded_connections(target: str) -> None:
    with UnifiedDatabase(target, max_connections=2, busy_timeout=30) as db:
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for n in range(20):
                    db.start_operation("bounded", seen=db.scalar("SELECT ?", (n,))).complete()
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.release()

        workers = [threading.Thread(target=work) for _ in range(6)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        assert not errors
        assert db.operation_stats()["bounded"].completed == 120
        assert db._pool.open_connections <= 2  # reading connections; writes share one


def test_pool_timeout(db_path: Path) -> None:
    with UnifiedDatabase(db_path, max_connections=1, busy_timeout=0.2) as db:
        db.query("SELECT 1")  # this thread now holds the only reading connection
        failure: list[BaseException] = []

        def other() -> None:
            try:
                db.query("SELECT 2")
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(failure) == 1 and isinstance(failure[0], DatabaseBusyError)
        assert "connections" in str(failure[0])
        # A thread that ended frees its slot for the next one.
        db.release()
        done = threading.Thread(
            target=lambda: db.start_operation("now fine", n=len(db.query("SELECT 1"))).complete()
        )
        done.start()
        done.join()
        assert db.operation_stats()["now fine"].completed == 1


@pytest.mark.parametrize("depth", [1, 3])
def test_transactions_from_threads_are_atomic(target: str, depth: int) -> None:
    with UnifiedDatabase(target) as db:
        db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
        db.insert("counter", id=1, n=0)

        def bump(_: int) -> None:
            for _ in range(50):
                with db.transaction():
                    for _ in range(depth - 1):
                        db.execute("SAVEPOINT extra")
                        db.execute("RELEASE extra")
                    n = db.scalar("SELECT n FROM counter WHERE id = 1")
                    db.update("counter", 1, n=n + 1)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(bump, range(4)))
        assert db.scalar("SELECT n FROM counter") == 200


def test_pool_timeout_on_postgresql(pg_url: str) -> None:
    # On PostgreSQL a connection is lent per unit of work: an open transaction holds one.
    with UnifiedDatabase(pg_url, max_connections=1, busy_timeout=0.3) as db:
        failure: list[BaseException] = []

        def other() -> None:
            try:
                db.query("SELECT 2")
            except BaseException as exc:
                failure.append(exc)

        with db.transaction():
            db.query("SELECT 1")
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        assert len(failure) == 1 and isinstance(failure[0], DatabaseBusyError)
        assert "connections" in str(failure[0]) and "password" not in str(failure[0])
        assert db.query("SELECT 3") == [(3,)]  # the block gave its connection back


def test_transactions_from_processes_are_atomic(pg_url: str) -> None:
    with UnifiedDatabase(pg_url) as db:
        db.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
        db.insert("counter", id=1, n=0)
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=bump_counter, args=(pg_url, 40)) for _ in range(3)]
    for child in children:
        child.start()
    bump_counter(pg_url, 40)
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    with UnifiedDatabase(pg_url) as db:
        assert db.scalar("SELECT n FROM counter") == 160

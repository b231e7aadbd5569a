"""EventDatabase: streams, expected versions, tracked events, consumers, retention.

Each invariant of the events pattern is one test; the concurrency tests use threads and
processes on one SQLite file, and the crash test kills a consuming process with SIGKILL.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dbfold.errors import ConcurrencyError, DbfoldError, RuntimeDatabaseError
from dbfold.patterns.events import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    EventDatabase,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
)
from dbfold.runtime import UnifiedDatabase

EFFECTS_DDL = "CREATE TABLE effects (position INTEGER PRIMARY KEY, type TEXT NOT NULL);"


class Effects(EventDatabase):
    """An EventDatabase with a user table that handlers write to."""

    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return EFFECTS_DDL


@pytest.fixture
def events_path(tmp_path: Path) -> Path:
    return tmp_path / "events.db"


@pytest.fixture
def events_db(events_path: Path) -> Iterator[Effects]:
    with Effects(events_path) as db:
        yield db


def events(*types: str) -> list[NewEvent]:
    return [NewEvent(kind, {"n": n}) for n, kind in enumerate(types)]


def count(db: UnifiedDatabase) -> int:
    return int(db.scalar("SELECT count(*) FROM dbfold_events"))


# -- append and read ------------------------------------------------------------------------


def test_append_numbers_versions_and_positions(events_db: Effects) -> None:
    first = events_db.append("order-1", events("placed", "paid"))
    assert (first.version, first.first_position, first.last_position) == (2, 1, 2)
    as_dict = {"type": "placed", "data": [1, "x"], "metadata": {"u": 1}}
    other = events_db.append("order-2", [as_dict])
    assert (other.version, other.first_position, other.last_position) == (1, 3, 3)
    again = events_db.append("order-1", [NewEvent("shipped", event_id="ship-1")])
    assert (again.version, again.first_position) == (3, 4)
    stream = events_db.read_stream("order-1")
    assert [(e.version, e.position, e.type) for e in stream] == [
        (1, 1, "placed"),
        (2, 2, "paid"),
        (3, 4, "shipped"),
    ]
    assert stream[0].data == {"n": 0} and stream[0].metadata is None
    assert stream[2].event_id == "ship-1" and len(stream[0].event_id) == 36
    assert stream[0].recorded_at.tzinfo is not None
    two = events_db.read_stream("order-2")[0]
    assert isinstance(two, RecordedEvent)
    assert (two.data, two.metadata) == ([1, "x"], {"u": 1})
    assert events_db.stream_version("order-1") == 3 and events_db.stream_version("nope") == 0
    assert events_db.read_stream("nope") == []


@pytest.mark.parametrize(
    ("expected", "ok"),
    [
        (ANY, True),
        (2, True),
        (1, False),
        (3, False),
        (0, False),
        (NO_STREAM, False),
        (STREAM_EXISTS, True),
    ],
)
def test_expected_version_on_an_existing_stream(
    events_db: Effects, expected: int | ExpectedVersion, ok: bool
) -> None:
    events_db.append("s", events("a", "b"))
    before = (count(events_db), events_db.last_position(), events_db.stream_version("s"))
    if ok:
        assert events_db.append("s", events("c"), expected_version=expected).version == 3
        return
    with pytest.raises(ConcurrencyError, match="nothing was written") as info:
        events_db.append("s", events("c", "d"), expected_version=expected)
    assert isinstance(info.value, DbfoldError)
    assert (info.value.stream, info.value.actual, info.value.expected) == ("s", 2, expected)
    after = (count(events_db), events_db.last_position(), events_db.stream_version("s"))
    assert after == before


@pytest.mark.parametrize(
    ("expected", "ok"),
    [(ANY, True), (0, True), (NO_STREAM, True), (STREAM_EXISTS, False), (1, False)],
)
def test_expected_version_on_a_new_stream(
    events_db: Effects, expected: int | ExpectedVersion, ok: bool
) -> None:
    if ok:
        assert events_db.append("new", events("a"), expected_version=expected).version == 1
    else:
        with pytest.raises(ConcurrencyError):
            events_db.append("new", events("a"), expected_version=expected)
        assert count(events_db) == 0 and events_db.stream_version("new") == 0


def test_empty_append_changes_nothing(events_db: Effects) -> None:
    events_db.append("s", events("a", "b", "c"))
    snapshot = events_db.query("SELECT * FROM dbfold_event_streams ORDER BY stream")
    result = events_db.append("s", [], expected_version=3)
    assert (result.version, result.first_position, result.last_position) == (3, 0, 0)
    assert events_db.append("s", []).version == 3
    assert events_db.append("fresh", []).version == 0
    with pytest.raises(ConcurrencyError):
        events_db.append("s", [], expected_version=1)
    assert events_db.query("SELECT * FROM dbfold_event_streams ORDER BY stream") == snapshot
    assert events_db.stream_version("fresh") == 0
    assert events_db.append("s", events("d")).version == 4


@pytest.mark.parametrize(
    ("stream", "batch", "expected", "message"),
    [
        ("$all", [NewEvent("a")], ANY, "reserved"),
        ("", [NewEvent("a")], ANY, "empty"),
        ("s", [{"data": 1}], ANY, "needs 'type'"),
        ("s", [{"type": "a", "extra": 1}], ANY, "needs 'type'"),
        ("s", [NewEvent("")], ANY, "non-empty"),
        ("s", ["a"], ANY, "neither"),
        ("s", [NewEvent("a")], -1, "expected_version"),
        ("s", [NewEvent("a")], True, "expected_version"),
        ("s", [NewEvent("a")], "any", "expected_version"),
    ],
)
def test_malformed_appends_are_refused(
    events_db: Effects, stream: str, batch: list[Any], expected: Any, message: str
) -> None:
    with pytest.raises(RuntimeDatabaseError, match=message):
        events_db.append(stream, batch, expected_version=expected)
    assert count(events_db) == 0


def test_append_in_a_rolled_back_transaction_leaves_nothing(events_db: Effects) -> None:
    with pytest.raises(RuntimeError), events_db.transaction():
        events_db.append("s", events("a"))
        raise RuntimeError("abort")
    assert count(events_db) == 0 and events_db.stream_version("s") == 0
    assert events_db.append("s", events("b"), expected_version=NO_STREAM).first_position == 1


def test_read_stream_ranges(events_db: Effects) -> None:
    events_db.append("s", events(*"abcde"))
    assert [e.version for e in events_db.read_stream("s", from_version=3)] == [3, 4, 5]
    assert [e.version for e in events_db.read_stream("s", limit=2)] == [1, 2]
    assert [e.version for e in events_db.read_stream("s", backwards=True)] == [5, 4, 3, 2, 1]
    back = events_db.read_stream("s", from_version=4, limit=2, backwards=True)
    assert [e.version for e in back] == [4, 3]


def test_read_all_pages_and_filters(events_db: Effects) -> None:
    events_db.append("a", events("x", "y"))
    events_db.append("b", events("y", "z"))
    everything = events_db.read_all()
    assert [e.position for e in everything] == [1, 2, 3, 4]
    assert [(e.stream, e.version) for e in everything] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert [e.position for e in events_db.read_all(after=2)] == [3, 4]
    assert [e.position for e in events_db.read_all(after=1, limit=2)] == [2, 3]
    assert [e.position for e in events_db.read_all(types=["y"])] == [2, 3]
    assert [e.position for e in events_db.read_all(types=("x", "z"), limit=None)] == [1, 4]


# -- tracked system events -------------------------------------------------------------------


def test_track_is_cloudevents_shaped_and_in_the_global_order(events_db: Effects) -> None:
    events_db.append("s", events("a"))
    tracked = events_db.track(
        "job.failed", source="worker-1", subject="nightly", data={"code": 3}, severity="error"
    )
    assert tracked.position == 2 and tracked.severity == "error"
    cloud = tracked.to_cloudevent()
    assert cloud["specversion"] == "1.0" and cloud["source"] == "worker-1"
    assert cloud["type"] == "job.failed" and cloud["subject"] == "nightly"
    assert cloud["id"] == tracked.id and cloud["data"] == {"code": 3}
    assert datetime.fromisoformat(cloud["time"]).tzinfo is not None
    [stored] = events_db.read_all(after=1)
    assert stored.stream == "$track:worker-1" and stored.event_id == tracked.id
    assert stored.metadata == {"source": "worker-1", "subject": "nightly", "severity": "error"}
    assert events_db.find_events() == [tracked]


def test_track_duplicate_returns_the_original(events_db: Effects) -> None:
    first = events_db.track("deploy", source="ci", event_id="run-7", data={"v": 1})
    again = events_db.track("other", source="ci", event_id="run-7", data={"v": 2}, severity="error")
    assert again == first and again.data == {"v": 1}
    assert count(events_db) == 1
    elsewhere = events_db.track("deploy", source="cd", event_id="run-7")
    assert elsewhere.position == 2 and count(events_db) == 2


def test_track_refuses_bad_values(events_db: Effects) -> None:
    with pytest.raises(RuntimeDatabaseError, match="severity"):
        events_db.track("x", source="s", severity="loud")
    with pytest.raises(RuntimeDatabaseError, match="source"):
        events_db.track("x", source="")
    with pytest.raises(RuntimeDatabaseError, match="min_severity"):
        events_db.find_events(min_severity="loud")
    assert count(events_db) == 0


def test_find_events_filters(events_db: Effects) -> None:
    events_db.append("s", events("job.failed"))  # a stream event is not a tracked one
    a = events_db.track("job.failed", source="w1", subject="a", severity="error")
    b = events_db.track("job.done", source="w1", subject="b", severity="info")
    c = events_db.track("job.failed", source="w2", subject="a", severity="warning")
    d = events_db.track("job.failed", source="w2", subject="a", severity="debug")
    assert events_db.find_events() == [d, c, b, a]
    assert events_db.find_events(type="job.failed") == [d, c, a]
    assert events_db.find_events(source="w1") == [b, a]
    assert events_db.find_events(subject="a", source="w2") == [d, c]
    assert events_db.find_events(min_severity="warning") == [c, a]
    assert events_db.find_events(min_severity="debug", limit=2) == [d, c]
    assert events_db.find_events(since=timedelta(hours=1)) == [d, c, b, a]
    assert events_db.find_events(since=datetime.now(timezone.utc) + timedelta(hours=1)) == []
    assert events_db.find_events(until=timedelta(hours=1)) == []
    assert events_db.find_events(until=c.time) == [b, a]
    assert events_db.find_events(since=b.time, until=d.time) == [c, b]


# -- consumers --------------------------------------------------------------------------------


def test_consume_in_order_in_batches_with_checkpoint(events_db: Effects) -> None:
    assert events_db.checkpoint("audit") == 0
    events_db.append("a", events(*"abcde"))
    events_db.append("b", events(*"fg"))
    seen: list[int] = []
    assert events_db.consume("audit", lambda e: seen.append(e.position), batch=3) == 7
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert events_db.checkpoint("audit") == 7
    assert events_db.consume("audit", lambda e: seen.append(e.position)) == 0
    events_db.append("a", events("h"))
    assert events_db.consume("audit", lambda e: seen.append(e.position)) == 1
    assert seen[-1] == 8 and events_db.checkpoint("audit") == 8
    assert events_db.consumers() == {"audit": 8}
    with pytest.raises(RuntimeDatabaseError, match="batch"):
        events_db.consume("audit", seen.append, batch=0)


def test_consume_commits_handler_writes_with_the_checkpoint(events_db: Effects) -> None:
    events_db.append("s", events(*"abcdefg"))

    def handle(event: RecordedEvent) -> None:
        events_db.insert("effects", position=event.position, type=event.type)
        if event.position == 6:
            raise ValueError("handler failed")

    with pytest.raises(ValueError, match="handler failed"):
        events_db.consume("fx", handle, batch=3)
    # The first batch (1-3) committed; the second (4-6) rolled back, writes and checkpoint.
    assert events_db.checkpoint("fx") == 3
    assert [r[0] for r in events_db.query("SELECT position FROM effects")] == [1, 2, 3]

    def fixed(event: RecordedEvent) -> None:
        events_db.insert("effects", position=event.position, type=event.type)

    assert events_db.consume("fx", fixed, batch=3) == 4
    assert events_db.checkpoint("fx") == 7
    assert events_db.scalar("SELECT count(*) FROM effects") == 7


def test_consume_only_some_types(events_db: Effects) -> None:
    events_db.append("s", events("x", "y", "x", "z"))
    seen: list[str] = []
    assert events_db.consume("xs", lambda e: seen.append(e.type), types=["x"]) == 2
    assert seen == ["x", "x"] and events_db.checkpoint("xs") == 3


def test_register_and_remove_consumer(events_db: Effects) -> None:
    assert events_db.register_consumer("late") == 0
    assert events_db.consumers() == {"late": 0}
    assert events_db.remove_consumer("late") is True
    assert events_db.remove_consumer("late") is False
    assert events_db.consumers() == {}


# -- retention --------------------------------------------------------------------------------


def test_prune_by_count_and_type(events_db: Effects) -> None:
    assert events_db.prune() == 0  # no rules
    events_db.append("s", events("keep", "tmp", "tmp", "keep", "tmp"))
    events_db.set_retention(max_count=1, types=["tmp"])
    assert events_db.prune() == 2
    assert [(e.position, e.type) for e in events_db.read_all()] == [
        (1, "keep"),
        (4, "keep"),
        (5, "tmp"),
    ]
    events_db.set_retention(max_count=None, types=["tmp"])  # removes the rule
    events_db.set_retention(max_count=0)
    assert events_db.prune() == 3 and count(events_db) == 0


def test_prune_by_age(events_db: Effects) -> None:
    events_db.append("s", events("a", "b"))
    events_db.set_retention(max_age=timedelta(days=1))
    assert events_db.prune() == 0
    events_db.set_retention(max_age=timedelta(0))
    assert events_db.prune() == 2


def test_prune_never_passes_a_consumer(events_db: Effects) -> None:
    events_db.append("s", events(*"abcdef"))
    events_db.register_consumer("slow")
    events_db.set_retention(max_count=0)
    assert events_db.prune() == 0  # the registered consumer has passed nothing yet
    events_db.consume("fast", lambda e: None)

    def stop_at_four(event: RecordedEvent) -> None:
        if event.position >= 4:
            raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        events_db.consume("slow", stop_at_four, batch=3)
    assert events_db.checkpoint("slow") == 3 and events_db.checkpoint("fast") == 6
    assert events_db.prune() == 3  # up to the slowest checkpoint, however far others got
    assert [e.position for e in events_db.read_all()] == [4, 5, 6]
    events_db.remove_consumer("slow")
    assert events_db.prune() == 3 and count(events_db) == 0


def test_retention_arguments_are_checked(events_db: Effects) -> None:
    with pytest.raises(RuntimeDatabaseError, match="empty"):
        events_db.set_retention(max_count=1, types=[])
    with pytest.raises(RuntimeDatabaseError, match="max_count"):
        events_db.set_retention(max_count=-1)


# -- immutability and positions ---------------------------------------------------------------


def test_stored_events_are_immutable(events_db: Effects, events_path: Path) -> None:
    events_db.append("s", events("a", "b"))
    for statement in (
        "UPDATE dbfold_events SET type = 'changed'",
        "UPDATE dbfold_events SET data = NULL WHERE position = 1",
        "DELETE FROM dbfold_events WHERE position = 2",
        "DELETE FROM dbfold_events",
    ):
        with pytest.raises(RuntimeDatabaseError, match="append-only"):
            events_db.execute(statement)
    # The runtime's own raw connection, and a plain sqlite3 connection, are refused alike.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        events_db.connection().execute("DELETE FROM dbfold_events")
    events_db.close()
    raw = sqlite3.connect(events_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("UPDATE dbfold_events SET type = 'x'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute("DELETE FROM dbfold_events")
        assert raw.execute("SELECT count(*) FROM dbfold_events").fetchone() == (2,)
        assert raw.execute("SELECT pruning FROM dbfold_event_gate").fetchone() == (0,)
    finally:
        raw.close()


def test_positions_are_never_reused_after_pruning_the_newest(events_db: Effects) -> None:
    events_db.append("s", events("a", "b", "c"))
    events_db.set_retention(max_count=0)
    assert events_db.prune() == 3
    assert events_db.last_position() == 3 and events_db.stream_version("s") == 3
    result = events_db.append("s", events("d"), expected_version=3)
    assert (result.first_position, result.version) == (4, 4)
    assert [(e.position, e.version) for e in events_db.read_all()] == [(4, 4)]


def test_positions_cannot_be_reused_by_hand(events_db: Effects, events_path: Path) -> None:
    events_db.append("s", events("a", "b"))
    events_db.set_retention(max_count=0)
    events_db.prune()
    events_db.close()
    raw = sqlite3.connect(events_path)
    try:
        insert = (
            "INSERT INTO dbfold_events (position, stream, version, type, event_id, recorded_at) "
            "VALUES (?, 's', 9, 't', 'id', 'now')"
        )
        for position in (None, 1, 2):  # NULL would take rowid max+1 = 1
            with pytest.raises(sqlite3.DatabaseError, match="never reused"):
                raw.execute(insert, (position,))
        with pytest.raises(sqlite3.DatabaseError, match="only move forward"):
            raw.execute("UPDATE dbfold_event_streams SET version = 0 WHERE stream = '$all'")
        with pytest.raises(sqlite3.DatabaseError, match="only move forward"):
            raw.execute("DELETE FROM dbfold_event_streams")
    finally:
        raw.close()


def test_prune_closes_the_gate_even_when_it_fails(events_db: Effects) -> None:
    events_db.append("s", events("a"))
    events_db.set_retention(max_count=0)
    with pytest.raises(RuntimeError), events_db.transaction():
        assert events_db.prune() == 1
        raise RuntimeError("abort")
    assert count(events_db) == 1
    assert events_db.scalar("SELECT pruning FROM dbfold_event_gate") == 0
    with pytest.raises(RuntimeDatabaseError, match="append-only"):
        events_db.execute("DELETE FROM dbfold_events")


# -- schema --------------------------------------------------------------------------------------


def test_tables_survive_user_migrations_and_plain_databases_gain_them(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with UnifiedDatabase(path) as plain:
        plain.start_operation("before events")

    class V1(EventDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE t (id INTEGER PRIMARY KEY);"

    class V2(EventDatabase):
        SCHEMA_VERSION = "1.1.0"

        def get_schema(self) -> str:
            return "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);"

    with V1(path, backup_dir=tmp_path / "backups") as db:
        db.append("s", events("a"))
        db.consume("c", lambda e: None)
    with V2(path, backup_dir=tmp_path / "backups") as db:
        assert db.last_migration is not None and db.last_migration.from_version == "1.0.0"
        assert [e.type for e in db.read_all()] == ["a"] and db.checkpoint("c") == 1
        with pytest.raises(RuntimeDatabaseError, match="append-only"):
            db.execute("DELETE FROM dbfold_events")
        assert db.append("s", events("b"), expected_version=1).first_position == 2
        assert db.plan_schema_changes() == []


# -- concurrency -------------------------------------------------------------------------------


def test_threads_with_the_same_expected_version_one_wins(events_db: Effects) -> None:
    threads = 8

    def race(expected: int) -> list[str]:
        barrier = threading.Barrier(threads)
        outcomes: list[str] = []
        lock = threading.Lock()

        def attempt(n: int) -> None:
            barrier.wait()
            try:
                events_db.append("race", [NewEvent("won", {"n": n})], expected_version=expected)
                result = "won"
            except ConcurrencyError:
                result = "lost"
            with lock:
                outcomes.append(result)

        workers = [threading.Thread(target=attempt, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sorted(outcomes)

    for round_ in range(5):
        assert race(round_) == ["lost"] * (threads - 1) + ["won"]
        assert events_db.stream_version("race") == round_ + 1
    assert count(events_db) == 5


APPEND_ONCE = """
import sys
from dbfold.errors import ConcurrencyError
from dbfold.patterns.events import NO_STREAM, EventDatabase, NewEvent
db = EventDatabase(sys.argv[1])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
try:
    db.append("race", [NewEvent("won")], expected_version=NO_STREAM)
    print("won")
except ConcurrencyError:
    print("lost")
"""


def test_processes_with_the_same_expected_version_one_wins(events_db: Effects) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPEND_ONCE, str(events_db.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = sorted(proc.communicate(timeout=60)[0].strip() for proc in procs)
    assert results == ["lost", "lost", "lost", "won"]
    assert count(events_db) == 1


def test_a_tailing_reader_sees_every_committed_event_exactly_once(events_db: Effects) -> None:
    writers, batches = 3, 60
    done = threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        rng = random.Random(n)
        for _ in range(batches):
            events_db.append(f"w{n}", events(*["e"] * rng.randint(1, 3)))

    def tail() -> None:
        after = 0
        while True:
            finished = done.is_set()  # read before the page: a last page after the end
            page = events_db.read_all(after=after, limit=7)
            seen.extend(e.position for e in page)
            if page:
                after = page[-1].position
            elif finished:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    total = events_db.last_position()
    assert seen == list(range(1, total + 1))
    assert count(events_db) == total


def test_commit_order_is_position_order(events_db: Effects) -> None:
    # An append inside a transaction that has not committed yet holds the one writer, so a
    # later append cannot take (or commit) a higher position meanwhile, and a tailing reader
    # can never skip the in-flight event.
    in_flight, release = threading.Event(), threading.Event()
    later: list[int] = []

    def slow() -> None:
        with events_db.transaction():
            events_db.append("slow", events("first"))
            in_flight.set()
            release.wait(30)

    def fast() -> None:
        later.append(events_db.append("fast", events("second")).first_position)

    first = threading.Thread(target=slow)
    first.start()
    assert in_flight.wait(30)
    second = threading.Thread(target=fast)
    second.start()
    time.sleep(0.2)
    assert events_db.read_all() == []  # neither is visible: the second waits for the writer
    assert second.is_alive() and later == []
    release.set()
    first.join()
    second.join()
    assert [(e.position, e.type) for e in events_db.read_all()] == [(1, "first"), (2, "second")]
    assert later == [2]


CONSUMER = f"""
import sys, time
from dbfold.patterns.events import EventDatabase

class Effects(EventDatabase):
    SCHEMA_VERSION = "1.0.0"

    def get_schema(self):
        return {EFFECTS_DDL!r}

db = Effects(sys.argv[1])

def handle(event):
    db.execute("INSERT INTO effects (position, type) VALUES (?, ?)", (event.position, event.type))
    time.sleep(0.002)  # so that a kill lands inside a batch

print("ready", flush=True)
db.consume("fx", handle, batch=10)
print("done", flush=True)
"""


def test_kill_during_consume_leaves_writes_and_checkpoint_together(
    events_db: Effects, events_path: Path
) -> None:
    events_db.append("s", events(*["e"] * 300))
    events_db.close()
    rng = random.Random(15)
    kills = 0
    for _attempt in range(30):
        proc = subprocess.Popen(
            [sys.executable, "-c", CONSUMER, str(events_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        if kills < 6:
            time.sleep(rng.uniform(0.02, 0.15))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
        out = proc.communicate(timeout=120)[0]
        with Effects(events_path) as db:
            checkpoint = db.checkpoint("fx")
            written = [r[0] for r in db.query("SELECT position FROM effects ORDER BY position")]
        # Both or neither: the effects are exactly the events up to the checkpoint.
        assert written == list(range(1, checkpoint + 1))
        if proc.returncode == 0:
            assert out.strip().endswith("done")
            break
        assert proc.returncode == -signal.SIGKILL
    assert kills >= 1
    assert checkpoint == 300

"""EventDatabase: batched appends against raw ``executemany``, and a ``read_all`` page.

Figures, every one the median of several runs, the baselines measured in the same process
with their rounds interleaved with dbfold's:

* **batched appends**: ``append(stream, 100 events)`` into a fresh ``EventDatabase``, one
  stream per batch, events per second. Baseline: raw sqlite3 (WAL, ``synchronous=NORMAL``,
  as the runtime opens it) running ``executemany`` of the same INSERT into the same
  ``dbfold_events`` table (same indexes and triggers), one ``BEGIN IMMEDIATE`` … ``COMMIT``
  per batch, each row built in the loop the way a hand-written appender builds it (orjson
  for the data, a ``uuid4`` id, an ISO timestamp, positions and versions counted in
  Python). Goal: dbfold at least 0.8 of it. A second line, without a goal, compares with the
  same rows prebuilt before the clock starts (SQLite's share of the work alone).
* **read_all page**: ``read_all(after=…, limit=1000)`` at random offsets of a 100,000-event
  database, milliseconds per page; goal at most 5 ms. Beside it, without a goal, the ratio
  of raw sqlite3 fetching the same rows to dbfold returning ``RecordedEvent`` objects.

Usage: ``python benchmarks/patterns_events.py [--quick]``
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from dbfold.patterns.events import EVENTS_DDL, EventDatabase, NewEvent
from dbfold.runtime.jsoncols import dump_json
from dbfold.runtime.timeutil import now_iso
from figures import HEADER, figure, median, spread

BATCH = 100
TYPES = ("order.placed", "order.paid", "order.shipped", "order.refunded", "order.closed")
INSERT = (
    "INSERT INTO dbfold_events (position, stream, version, type, data, metadata, event_id, "
    "recorded_at, source, subject, severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PAGE_SQL = (
    "SELECT position, stream, version, type, data, metadata, event_id, recorded_at "
    "FROM dbfold_events WHERE position > ? ORDER BY position LIMIT ?"
)


def payloads(batches: int) -> list[list[tuple[str, dict[str, Any]]]]:
    """The events both sides append: ``batches`` lists of (type, data)."""
    rng = random.Random(7)
    return [
        [
            (
                TYPES[n % len(TYPES)],
                {"order": b * BATCH + n, "amount": round(rng.uniform(1, 500), 2), "sku": "A-17"},
            )
            for n in range(BATCH)
        ]
        for b in range(batches)
    ]


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def fresh(folder: Path, name: str) -> Path:
    return folder / f"{name}-{time.perf_counter_ns()}.db"


def run_dbfold(folder: Path, data: list[list[tuple[str, dict[str, Any]]]]) -> float:
    """Events per second through ``EventDatabase.append``."""
    batches = [[NewEvent(kind, body) for kind, body in batch] for batch in data]
    with EventDatabase(fresh(folder, "dbfold")) as db:
        began = time.perf_counter()
        for number, batch in enumerate(batches):
            db.append(f"order-{number}", batch)
        elapsed = time.perf_counter() - began
    return len(batches) * BATCH / elapsed


def hand_row(
    position: int, stream: str, version: int, kind: str, body: Any, now: str
) -> tuple[Any, ...]:
    """One row as a hand-written appender builds it."""
    event_id, data = str(uuid.uuid4()), dump_json(body)
    return (position, stream, version, kind, data, None, event_id, now, None, None, None)


def run_raw(folder: Path, data: list[list[tuple[str, dict[str, Any]]]], prebuilt: bool) -> float:
    """Events per second through raw ``executemany`` into the same table."""
    conn = raw_connect(fresh(folder, "raw"))
    conn.executescript(EVENTS_DDL)
    rows: list[list[tuple[Any, ...]]] = []
    if prebuilt:
        position, now = 0, now_iso()
        for number, batch in enumerate(data):
            stream, block = f"order-{number}", []
            for version, (kind, body) in enumerate(batch, 1):
                position += 1
                block.append(hand_row(position, stream, version, kind, body, now))
            rows.append(block)
    began = time.perf_counter()
    if prebuilt:
        for block in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, block)
            conn.execute("COMMIT")
    else:
        position = 0
        for number, batch in enumerate(data):
            stream, now, first = f"order-{number}", now_iso(), position + 1
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                INSERT,
                (
                    hand_row(first + n, stream, n + 1, kind, body, now)
                    for n, (kind, body) in enumerate(batch)
                ),
            )
            conn.execute("COMMIT")
            position += len(batch)
    elapsed = time.perf_counter() - began
    conn.close()
    return len(data) * BATCH / elapsed


def pages(path: Path, total: int, count: int) -> tuple[list[float], list[float]]:
    """Milliseconds per 1,000-event page: dbfold's read_all and raw sqlite3's fetchall."""
    rng = random.Random(3)
    offsets = [rng.randrange(0, total - 1000) for _ in range(count)]
    ours, raw = [], []
    with EventDatabase(path) as db:
        db.read_all(after=0, limit=1000)  # warm the page cache and the statement cache
        conn = raw_connect(path)
        try:
            for after in offsets:
                began = time.perf_counter()
                page = db.read_all(after=after, limit=1000)
                ours.append((time.perf_counter() - began) * 1000)
                assert len(page) == 1000
                began = time.perf_counter()
                conn.execute(PAGE_SQL, (after, 1000)).fetchall()
                raw.append((time.perf_counter() - began) * 1000)
        finally:
            conn.close()
    return ours, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 9
    batches = 100 if args.quick else 300
    total = 50_000 if args.quick else 100_000
    data = payloads(batches)
    runs: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        runs.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="dbfold-bench-events-") as tmp:
        folder = Path(tmp)
        run_dbfold(folder, data[:10])  # imports, page cache, statement caches
        run_raw(folder, data[:10], False)
        for _ in range(repeats):
            add("dbfold append", run_dbfold(folder, data))
            add("raw executemany", run_raw(folder, data, False))
            add("raw prebuilt", run_raw(folder, data, True))
        path = folder / "read.db"
        with EventDatabase(path) as db:
            for number, batch in enumerate(payloads(total // BATCH)):
                db.append(f"order-{number}", [NewEvent(kind, body) for kind, body in batch])
        for _ in range(repeats):
            ours, raw = pages(path, total, 20)
            add("read_all ms", median(ours))
            add("raw page ms", median(raw))
    med = {key: median(values) for key, values in runs.items()}
    print(f"events/s ({BATCH} a batch) and ms per page, median of {repeats} runs")
    print(HEADER)
    figure(
        "append 100/batch: dbfold / raw executemany",
        med["dbfold append"],
        med["raw executemany"],
        0.8,
    )
    figure(
        "append 100/batch: dbfold / raw, rows prebuilt",
        med["dbfold append"],
        med["raw prebuilt"],
        None,
    )
    figure(
        "read_all page of 1,000 (ms)",
        med["read_all ms"],
        None,
        5,
        higher_is_better=False,
        unit=" ms",
    )
    figure(
        "read_all page: raw fetchall / dbfold (time)", med["raw page ms"], med["read_all ms"], None
    )
    print("spreads (min..max of the runs):")
    for key, values in runs.items():
        print(f"  {key:16s} {spread(values)}")


if __name__ == "__main__":
    main()

"""Time series: ``TimeSeriesDatabase`` against raw sqlite3 on the same data, same run.

The data is the issue's shape scaled down: ``--series`` series (default 100) × one point a
minute × 7 days, written in time order (every series' point of one minute, then the next
minute), in batches of ``--batch`` rows. ``--full`` runs the issue's size, 1,000 series
(10,080,000 points); it takes several minutes on a shared machine, so the default is a
tenth of it.

Figures (medians of ``--rounds`` rounds, the sides interleaved so drift hits both):

* **ingest with rollup upkeep**: ``write_many`` of ``(series name, epoch seconds, value)``
  rows with a one-hour rollup kept exact in the same transaction, against raw
  ``executemany`` of ready ``(series_id, ts, value)`` integer tuples into
  ``(series_id, ts, value) PRIMARY KEY (series_id, ts) WITHOUT ROWID`` (WAL,
  ``synchronous=NORMAL``, as the runtime opens it), one transaction per batch. Points per
  second; goal ≥ 0.8.
* **one-week one-hour query**: ``aggregate`` of one series over the 7 days in one-hour
  buckets (answered from the rollup, the open bucket from raw points), against the raw
  ``GROUP BY`` on the baseline's table through a plain sqlite3 connection. Seconds per
  query; goal: ours at most 1/10 of the raw one (ratio shown as baseline / ours ≥ 10).
* **drop one day**: ``enforce_retention`` with a six-day raw window, deleting the oldest
  day of every series (rollups kept). Seconds; goal ≤ 1 s. The raw ``DELETE … WHERE ts < ?``
  on the baseline table is shown beside it for scale.

Usage: ``python benchmarks/patterns_timeseries.py [--full] [--series N] [--rounds N]``
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dbfold.patterns.timeseries import TimeSeriesDatabase
from figures import HEADER, figure, median, spread

RAW_DDL = (
    "CREATE TABLE p (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, "
    "PRIMARY KEY (series_id, ts)) WITHOUT ROWID"
)
START = int(datetime(2024, 5, 6, tzinfo=timezone.utc).timestamp())  # a Monday, 00:00 UTC
DAYS = 7


def rows_for(series: int) -> tuple[list[tuple[str, int, float]], list[tuple[int, int, float]]]:
    """The same points for both sides: ours by name and epoch seconds, raw by id and µs."""
    ours: list[tuple[str, int, float]] = []
    raw: list[tuple[int, int, float]] = []
    names = [f"host{n:04d}.cpu" for n in range(series)]
    for minute in range(DAYS * 24 * 60):
        ts = START + minute * 60
        for n in range(series):
            value = float((minute * 7 + n * 13) % 1000) / 10
            ours.append((names[n], ts, value))
            raw.append((n + 1, ts * 1_000_000, value))
    return ours, raw


def raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def ingest_raw(path: Path, rows: list[tuple[int, int, float]], batch: int) -> float:
    conn = raw_connect(path)
    conn.execute(RAW_DDL)
    began = time.perf_counter()
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO p VALUES (?, ?, ?)", rows[i : i + batch])
        conn.execute("COMMIT")
    took = time.perf_counter() - began
    conn.close()
    return len(rows) / took


def ingest_ours(path: Path, rows: list[tuple[str, int, float]], batch: int) -> float:
    with TimeSeriesDatabase(path) as db:
        db.add_rollup(timedelta(hours=1))
        began = time.perf_counter()
        for i in range(0, len(rows), batch):
            db.write_many(rows[i : i + batch])
        took = time.perf_counter() - began
    return len(rows) / took


def timed_query(run: object, repeat: int) -> float:
    """Median seconds of one call."""
    assert callable(run)
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        runs.append(time.perf_counter() - began)
    return median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000 series (10 M points)")
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    series = 1000 if args.full else args.series
    ours_rows, raw_rows = rows_for(series)
    print(f"{len(ours_rows):,} points: {series} series x 1/minute x {DAYS} days", flush=True)
    ingest: dict[str, list[float]] = {"ours": [], "raw": []}
    query: dict[str, list[float]] = {"ours": [], "raw": []}
    drop: dict[str, list[float]] = {"ours": [], "raw": []}
    week = (datetime.fromtimestamp(START, timezone.utc), timedelta(days=DAYS))
    lo_us = START * 1_000_000
    hi_us = (START + DAYS * 86400) * 1_000_000
    hour_us = 3600 * 1_000_000
    raw_sql = (
        "SELECT ts - ts % ? AS b, avg(value), min(value), max(value), count(*), sum(value) "
        "FROM p WHERE series_id = ? AND ts >= ? AND ts < ? GROUP BY b ORDER BY b"
    )
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            ours_path, raw_path = Path(tmp) / "ours.db", Path(tmp) / "raw.db"
            ingest["raw"].append(ingest_raw(raw_path, raw_rows, args.batch))
            ingest["ours"].append(ingest_ours(ours_path, ours_rows, args.batch))
            conn = raw_connect(raw_path)
            with TimeSeriesDatabase(ours_path) as db:
                name = ours_rows[0][0]

                def ours_query(db: TimeSeriesDatabase = db, name: str = name) -> None:
                    db.aggregate(name, week[0], week[0] + week[1], bucket=timedelta(hours=1))

                def raw_query(conn: sqlite3.Connection = conn) -> None:
                    conn.execute(raw_sql, (hour_us, 1, lo_us, hi_us)).fetchall()

                got = db.aggregate(name, week[0], week[0] + week[1], bucket=timedelta(hours=1))
                want = conn.execute(raw_sql, (hour_us, 1, lo_us, hi_us)).fetchall()
                assert [(b.count, b.sum) for b in got] == [(w[4], w[5]) for w in want]
                for _ in range(3):  # interleaved
                    query["raw"].append(timed_query(raw_query, 20))
                    query["ours"].append(timed_query(ours_query, 20))
                db.set_retention(raw=timedelta(days=DAYS - 1))
                now = week[0] + week[1]
                began = time.perf_counter()
                report = db.enforce_retention(now)
                drop["ours"].append(time.perf_counter() - began)
                assert report.raw_deleted == series * 24 * 60, report
            began = time.perf_counter()
            conn.execute("DELETE FROM p WHERE ts < ?", (lo_us + 86400 * 1_000_000,))
            drop["raw"].append(time.perf_counter() - began)
            conn.close()
    print(HEADER)
    figure(
        "ingest with 1 h rollup upkeep (points/s)",
        median(ingest["ours"]),
        median(ingest["raw"]),
        0.8,
    )
    # The goal is "≥ 10 × faster": shown as raw seconds / ours seconds.
    figure(
        "1-week 1-hour query, one series (1/s)",
        1 / median(query["ours"]),
        1 / median(query["raw"]),
        10,
    )
    figure(
        "drop one day (s)",
        median(drop["ours"]),
        None,
        1.0,
        higher_is_better=False,
        unit="s",
    )
    print(f"  raw DELETE of the same day: {median(drop['raw']):.3f} s (for scale)")
    print(
        f"  spreads: ingest ours {spread(ingest['ours'])} raw {spread(ingest['raw'])}; "
        f"query ours {spread(query['ours'])} raw {spread(query['raw'])}; "
        f"drop ours {spread(drop['ours'])}"
    )


if __name__ == "__main__":
    main()

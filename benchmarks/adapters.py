"""Benchmark: statements per second through a LegacyConnection against raw sqlite3.

The baseline runs the *already rewritten* statements (what the adapter sends) on plain
``sqlite3`` connections to the same unified database, so the ratio measures the adapter's
own cost: translation lookups (cached), the cursor layer, the discriminator, the key
lookups that make ``lastrowid`` legacy-shaped, and the TEMP triggers of every legacy
connection, which the baseline does not carry: the provenance log (one more page per
committed write) and the AUTOINCREMENT mark of merged tables (one more page per insert).
The workload is the sample project's legacy SQL: point reads, inserts (into a merged table
too, each committed as the legacy trackers do) and small scans. Rounds alternate adapter
and baseline in the same process; medians are printed.

Usage: ``python benchmarks/adapters.py [--scale 0.2] [--statements 4000] [--runs 5]``
Target (issue 6): adapter ≥ 0.75 × raw.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from dbfold.adapters import LegacyConnection, connect
from dbfold.adapters.connection import store_map
from dbfold.adapters.rewrite import translator_for
from dbfold.demo import build_sample_project
from dbfold.design import design, render_sql
from dbfold.plan import Plan, split_path
from dbfold.runtime.backend import quote_ident
from dbfold.scan import analyze

NOW = "2024-07-01T12:00:00Z"
Work = list[tuple[str, str, tuple[Any, ...]]]


def fill(plan: Plan, root: Path, target: Path) -> None:
    """Create the unified database and copy the SQLite sources into it."""
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(render_sql(plan))
    for table in plan.tables:
        for src in table.sources:
            path = root / src.store
            if src.array is not None or not path.is_file():
                continue
            with path.open("rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    continue
            legacy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            names = ", ".join(quote_ident(split_path(p)[0]) for p in src.columns)
            rows = legacy.execute(f"SELECT {names} FROM {quote_ident(src.table)}").fetchall()
            legacy.close()
            cols = list(src.columns.values()) + ([src.discriminator] if src.discriminator else [])
            extra = (src.value,) if src.discriminator else ()
            marks = ", ".join("?" for _ in cols)
            conn.executemany(
                f"INSERT INTO {quote_ident(table.name)} "
                f"({', '.join(quote_ident(c) for c in cols)}) VALUES ({marks})",
                [(*r, *extra) for r in rows],
            )
    conn.commit()
    conn.close()


def workload(n: int, seed: int = 7) -> Work:
    """The legacy statements (store, sql, params): reads, inserts and small scans."""
    rnd = random.Random(seed)
    out: Work = []
    for i in range(n):
        pick = rnd.random()
        if pick < 0.35:
            out.append(
                ("data/tracking.db", "SELECT * FROM actions WHERE id = ?", (rnd.randint(1, 150),))
            )
        elif pick < 0.50:
            out.append(
                (
                    "data/quality.db",
                    "SELECT tracker, action, detail FROM action_log WHERE id = ?",
                    (rnd.randint(1, 30),),
                )
            )
        elif pick < 0.65:
            out.append(
                (
                    "data/tracking.db",
                    "INSERT INTO action_log (tracker, action, detail, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    ("bench", "publish", f"article:{i}", NOW),
                )
            )
        elif pick < 0.75:
            out.append(
                (
                    "data/metrics.db",
                    "INSERT INTO metrics (name, ts, value, tags) VALUES (?, ?, ?, ?)",
                    ("latency", i, rnd.random(), None),
                )
            )
        elif pick < 0.90:
            out.append(
                (
                    "data/metrics.db",
                    "SELECT name, ts, value FROM metrics WHERE name = ? ORDER BY ts DESC LIMIT 10",
                    (rnd.choice(["latency", "tokens", "errors", "quality"]),),
                )
            )
        else:
            out.append(
                (
                    "data/queue.db",
                    "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status",
                    (),
                )
            )
    return out


def run(conns: dict[str, sqlite3.Connection], work: Work) -> float:
    """Run the workload; return statements per second."""
    start = time.perf_counter()
    for store, sql, params in work:
        conn = conns[store]
        cur = conn.execute(sql, params)
        cur.fetchall()
        if conn.in_transaction:
            conn.commit()  # as the legacy trackers do after each write
    return len(work) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--statements", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dbfold-bench-adapters-") as tmp:
        root = Path(tmp) / "project"
        build_sample_project(root, scale=args.scale)
        analysis = analyze(root)
        plan = design(analysis)
        target = root / "data" / "unified.db"
        fill(plan, root, target)
        work = workload(args.statements)
        stores = sorted({s for s, _, _ in work})
        adapted: dict[str, sqlite3.Connection] = {}
        raw: dict[str, sqlite3.Connection] = {}
        for store in stores:
            conn: LegacyConnection = connect(store, plan, target, root=root, analysis=analysis)
            adapted[store] = conn
            raw[store] = sqlite3.connect(target)
        rewritten: Work = []
        for store, sql, params in work:
            tr = translator_for(store_map(plan, store, analysis)).translate(sql)
            assert tr.kind == "sql", (sql, tr)
            rewritten.append((store, tr.sql, params))
        run(adapted, work[:200])  # warm the caches of both sides
        run(raw, rewritten[:200])
        ours, base = [], []
        for _ in range(args.runs):
            ours.append(run(adapted, work))
            base.append(run(raw, rewritten))
        for c in [*adapted.values(), *raw.values()]:
            c.close()
    a, b = statistics.median(ours), statistics.median(base)
    print(f"statements per run: {args.statements}, runs: {args.runs}, scale: {args.scale}")
    print(f"adapter (LegacyConnection): {a:,.0f} statements/s (median)")
    print(f"raw sqlite3 (rewritten SQL): {b:,.0f} statements/s (median)")
    print(f"ratio adapter/raw: {a / b:.2f} (target >= 0.75)")


if __name__ == "__main__":
    main()

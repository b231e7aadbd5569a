"""Benchmark: the adapters' write path against raw sqlite3 running the rewritten SQL.

The workload is the sample project's legacy code, method by method (``app/trackers.py``,
``app/queue.py``, ``app/cache.py``, ``scripts/cleanup.py``): point reads and small scans,
and writes committed as those methods commit them — an action recorded (two inserts, one
into a merged AUTOINCREMENT table), a quality log line, a metric, a job enqueued and one
completed (a read, an insert and an UPDATE in one transaction), a cache entry REPLACEd,
the expired ones DELETEd, a merged row updated and the newest one deleted. About 40% of
the statements write and there is a commit for every three statements or so.

Three sides run the same operations on the same unified database, taking turns every
``CHUNK`` operations (the order rotates per turn; each round starts on an empty WAL, and an
automatic checkpoint falls on whichever side's commit crosses SQLite's threshold, so each
side pays for checkpoints about in proportion to the WAL it writes):

* ``adapter``: LegacyConnection with the legacy SQL — translation (cached), the cursor
  layer, the key lookups that make ``lastrowid`` legacy-shaped, and the TEMP triggers that
  record every written row in ``dbfold_adapter_log`` (plus the AUTOINCREMENT mark of the
  merged table) in the writing statement;
* ``raw``: plain sqlite3 running the *rewritten* statements, which is what issue 12
  measures against: it records no provenance at all;
* ``raw+hand``: the same rewritten statements plus the provenance statements a hand-written
  version would need (one log insert per written row, the AUTOINCREMENT mark), for a
  reader who wants to know what the recording itself costs.

Prints one line per figure (medians of ``--runs`` rounds; spread = min..max).

Usage: ``python benchmarks/adapters.py [--scale 0.2] [--statements 4000] [--runs 7]``
Goal (issue 12): adapter >= 0.8 x raw.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
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
from dbfold.provenance import LOG_TABLE
from dbfold.runtime.backend import quote_ident
from dbfold.scan import analyze

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import HEADER, figure, spread

GOAL = 0.8
#: Operations per turn: the sides take turns this often within a round, so a burst of load
#: on the shared machine (or of fsync latency) falls on all three alike.
CHUNK = 40
NOW = "2024-07-01T12:00:00Z"


class _Last:
    """Stands, in a statement's parameters, for the ``lastrowid`` of the op's last insert."""


LAST = _Last()
#: (sql, params, params hold LAST, keep this statement's lastrowid as LAST)
Step = tuple[str, tuple[Any, ...], bool, bool]
#: (store, statements, commit afterwards)
Op = tuple[str, tuple[Step, ...], bool]

TRACKING, QUALITY, METRICS, QUEUE, CACHE = (
    "data/tracking.db",
    "data/quality.db",
    "data/metrics.db",
    "data/queue.db",
    "cache/cache.db",
)
ACTION = "INSERT INTO actions (action, actor, target, payload, created_at) VALUES (?, ?, ?, ?, ?)"
ACTION_LOG = "INSERT INTO action_log (tracker, action, detail, created_at) VALUES (?, ?, ?, ?)"
METRIC = "INSERT INTO metrics (name, ts, value, tags) VALUES (?, ?, ?, ?)"
ENQUEUE = (
    "INSERT INTO jobs (kind, payload, status, priority, attempts, created_at, updated_at) "
    "VALUES (?, ?, 'queued', ?, 0, ?, ?)"
)
ATTEMPT = "SELECT attempts + 1 FROM jobs WHERE id = ?"
RUN = (
    "INSERT INTO job_runs (job_id, attempt, started_at, finished_at, ok, error) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
COMPLETE = "UPDATE jobs SET status = ?, attempts = ?, updated_at = ? WHERE id = ?"
CACHE_SET = "REPLACE INTO cache (key, value, expires_at) VALUES (?, ?, ?)"
CACHE_GET = "SELECT value FROM cache WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
PURGE = "DELETE FROM cache WHERE expires_at <= ?"
ANNOTATE = "UPDATE action_log SET detail = ? WHERE id = ?"
UNDO = "DELETE FROM action_log WHERE id = (SELECT MAX(id) FROM action_log)"

_LOG = f'INSERT INTO "{LOG_TABLE}" ("target_table", "source", "key", "op") '
_SEQ = (
    'INSERT INTO "dbfold_adapter_sequence" ("name", "source", "seq") '
    'SELECT \'action_log\', {v}, "id" FROM "action_log" WHERE rowid = ? '
    'ON CONFLICT ("name", "source") DO UPDATE SET "seq" = MAX("seq", excluded."seq")'
)


def _by_rowid(table: str, value: str) -> str:
    return (
        f"{_LOG}SELECT '{table}', {value}, json_array(\"id\"), 'insert' "
        f'FROM "{table}" WHERE rowid = ?'
    )


def _logged(table: str, value: str, op: str) -> str:
    return f"{_LOG}VALUES ('{table}', {value}, json_array(?), '{op}')"


#: What a hand-written version records for each legacy write (unified SQL): statements run
#: before the write and after it. Parameters: LAST (the write's lastrowid), ``("params",)``
#: (the write's own), ``("id",)``/``("key",)`` (the write's parameter that names the row).
_HAND: dict[tuple[str, str], tuple[list[Step], list[Step]]] = {
    (TRACKING, ACTION): ([], [(_logged("actions", "''", "insert"), (LAST,), True, False)]),
    (TRACKING, ACTION_LOG): (
        [],
        [
            (_SEQ.format(v="'tracking'"), (LAST,), True, False),
            (_by_rowid("action_log", "'tracking'"), (LAST,), True, False),
        ],
    ),
    (QUALITY, ACTION_LOG): (
        [],
        [
            (_SEQ.format(v="'quality'"), (LAST,), True, False),
            (_by_rowid("action_log", "'quality'"), (LAST,), True, False),
        ],
    ),
    (METRICS, METRIC): ([], [(_logged("metrics", "''", "insert"), (LAST,), True, False)]),
    (QUEUE, ENQUEUE): ([], [(_logged("jobs", "''", "insert"), (LAST,), True, False)]),
    (QUEUE, RUN): ([], [(_logged("job_runs", "''", "insert"), (LAST,), True, False)]),
    (QUEUE, COMPLETE): ([], [(_logged("jobs", "''", "update"), ("id",), False, False)]),
    (CACHE, CACHE_SET): ([], [(_logged("cache", "''", "insert"), ("key",), False, False)]),
    (CACHE, PURGE): (
        [
            (
                f"{_LOG}SELECT 'cache', '', json_array(\"key\"), 'delete' FROM \"cache\" "
                'WHERE "expires_at" <= ?',
                ("params",),
                False,
                False,
            )
        ],
        [],
    ),
    (TRACKING, ANNOTATE): (
        [],
        [(_logged("action_log", "'tracking'", "update"), ("id",), False, False)],
    ),
    (TRACKING, UNDO): (
        [
            (
                f"{_LOG}SELECT 'action_log', 'tracking', json_array(MAX(\"id\")), 'delete' "
                'FROM "action_log" WHERE "source" = \'tracking\' HAVING COUNT(*) > 0',
                (),
                False,
                False,
            )
        ],
        [],
    ),
}


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


def _op(store: str, *steps: Step) -> Op:
    """One legacy method: its statements, then a commit if it wrote (as the methods do)."""
    return (store, steps, any(not sql.startswith("SELECT") for sql, *_ in steps))


def _s(sql: str, params: tuple[Any, ...], *, keep: bool = False) -> Step:
    return (sql, params, any(p is LAST for p in params), keep)


def workload(statements: int, seed: int = 7) -> list[Op]:
    """Legacy operations (the sample app's methods) until ``statements`` statements."""
    rnd = random.Random(seed)
    out: list[Op] = []
    count = i = 0
    while count < statements:
        i += 1
        pick = rnd.random()
        if pick < 0.25:
            op = _op(TRACKING, _s("SELECT * FROM actions WHERE id = ?", (rnd.randint(1, 2000),)))
        elif pick < 0.35:
            sql = "SELECT tracker, action, detail FROM action_log WHERE id = ?"
            op = _op(QUALITY, _s(sql, (rnd.randint(1, 300),)))
        elif pick < 0.45:
            sql = "SELECT name, ts, value FROM metrics WHERE name = ? ORDER BY ts DESC LIMIT 10"
            name = rnd.choice(["latency", "tokens", "errors", "quality"])
            op = _op(METRICS, _s(sql, (name,)))
        elif pick < 0.50:
            sql = "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status"
            op = _op(QUEUE, _s(sql, ()))
        elif pick < 0.65:
            op = _op(CACHE, _s(CACHE_GET, (f"bench:{rnd.randrange(64)}", float(i))))
        elif pick < 0.72:  # ActionTracker.record
            op = _op(
                TRACKING,
                _s(ACTION, ("publish", "bench", f"article:{i}", '{"n": 1}', NOW), keep=True),
                _s(ACTION_LOG, ("actions", "publish", f"article:{i}", NOW)),
            )
        elif pick < 0.76:  # QualityTracker.log
            op = _op(QUALITY, _s(ACTION_LOG, ("quality", "score", f"run:{i}", NOW)))
        elif pick < 0.81:
            op = _op(METRICS, _s(METRIC, ("latency", i, rnd.random(), None)))
        elif pick < 0.85:  # JobQueue.enqueue
            payload = f'{{"article": {i}}}'
            op = _op(QUEUE, _s(ENQUEUE, ("publish", payload, 0, NOW, NOW), keep=True))
        elif pick < 0.89:  # JobQueue.complete
            job = rnd.randint(1, 400)
            op = _op(
                QUEUE,
                _s(ATTEMPT, (job,)),
                _s(RUN, (job, 1, NOW, NOW, 1, None)),
                _s(COMPLETE, ("done", 1, NOW, job)),
            )
        elif pick < 0.94:  # CacheManager.set
            op = _op(CACHE, _s(CACHE_SET, (f"bench:{rnd.randrange(64)}", b"v" * 32, i + 50.0)))
        elif pick < 0.96:  # scripts/cleanup.py
            op = _op(CACHE, _s(PURGE, (float(i),)))
        elif pick < 0.98:
            op = _op(TRACKING, _s(ANNOTATE, (f"note:{i}", rnd.randint(1, 300))))
        else:
            op = _op(TRACKING, _s(UNDO, ()))
        out.append(op)
        count += len(op[1])
    return out


def rewritten(plan: Plan, analysis: Any, ops: list[Op], *, hand: bool) -> list[Op]:
    """The ops with each statement's translation (and, with ``hand``, provenance by hand)."""
    out: list[Op] = []
    for store, steps, commit in ops:
        translate = translator_for(store_map(plan, store, analysis)).translate
        new: list[Step] = []
        for sql, params, linked, keep in steps:
            tr = translate(sql)
            assert tr.kind == "sql", (sql, tr)
            before, after = _HAND.get((store, sql), ([], [])) if hand else ([], [])
            new += [(s, params if p == ("params",) else p, False, False) for s, p, _, _ in before]
            new.append((tr.sql, params, linked, keep or any(a[2] for a in after)))
            for s, p, link, _ in after:
                if p == ("id",):  # the row the statement named: its last parameter
                    p = (params[-1],)
                elif p == ("key",):
                    p = (params[0],)
                new.append((s, p, link, False))
        out.append((store, tuple(new), commit))
    return out


def run(conns: dict[str, sqlite3.Connection], ops: list[Op]) -> float:
    """Run the operations; return the seconds they took."""
    start = time.perf_counter()
    for store, steps, commit in ops:
        conn = conns[store]
        last = None
        for sql, params, linked, keep in steps:
            if linked:
                params = tuple(last if p is LAST else p for p in params)
            cur = conn.execute(sql, params)
            cur.fetchall()
            if keep:
                last = cur.lastrowid  # as the legacy method returns it
        if commit:
            conn.commit()
    return time.perf_counter() - start


def log_rows(target: Path) -> int:
    with sqlite3.connect(target) as conn:
        return int(conn.execute(f'SELECT COUNT(*) FROM "{LOG_TABLE}"').fetchone()[0])


def checkpoint(target: Path) -> None:
    """Copy the WAL back and make the next writer start it over (outside the timing)."""
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA wal_checkpoint(RESTART)")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--statements", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sides = ("adapter", "raw", "raw+hand")
    times: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="dbfold-bench-adapters-") as tmp:
        root = Path(tmp) / "project"
        build_sample_project(root, scale=args.scale)
        analysis = analyze(root)
        plan = design(analysis)
        target = root / "data" / "unified.db"
        fill(plan, root, target)
        ops = workload(args.statements)
        n = sum(len(steps) for _, steps, _ in ops)
        writes = sum(1 for _, steps, _ in ops for sql, *_ in steps if not sql.startswith("SELECT"))
        commits = sum(1 for *_, commit in ops if commit)
        stores = sorted({store for store, _, _ in ops})
        conns: dict[str, dict[str, sqlite3.Connection]] = {side: {} for side in sides}
        for store in stores:
            legacy: LegacyConnection = connect(store, plan, target, root=root, analysis=analysis)
            conns["adapter"][store] = legacy
            conns["raw"][store] = sqlite3.connect(target)
            conns["raw+hand"][store] = sqlite3.connect(target)
        work = {
            "adapter": ops,
            "raw": rewritten(plan, analysis, ops, hand=False),
            "raw+hand": rewritten(plan, analysis, ops, hand=True),
        }
        # One untimed round per side: warms the caches, and checks that the adapter's
        # triggers record as many provenance rows as the hand-written statements (raw: none).
        recorded: dict[str, int] = {}
        for side in sides:
            before = log_rows(target)
            run(conns[side], work[side])
            recorded[side] = log_rows(target) - before
        assert recorded["raw"] == 0 and recorded["adapter"] == recorded["raw+hand"] > 0, recorded
        chunks = range(0, len(ops), CHUNK)
        for _ in range(args.runs):
            checkpoint(target)
            spent = dict.fromkeys(sides, 0.0)
            for k, at in enumerate(chunks):  # the sides in turns, a few commits each
                for side in sides[k % 3 :] + sides[: k % 3]:
                    spent[side] += run(conns[side], work[side][at : at + CHUNK])
            for side in sides:
                times[side].append(spent[side])
        for side in sides:
            for conn in conns[side].values():
                conn.close()
    rates = {side: [n / t for t in values] for side, values in times.items()}
    med = {side: statistics.median(values) for side, values in rates.items()}
    print(
        f"{n} statements ({writes} writes, {commits} commits) per round, {args.runs} rounds, "
        f"scale {args.scale}; statements/s, median"
    )
    paired = [a / b for a, b in zip(rates["adapter"], rates["raw"], strict=True)]
    print(HEADER)
    figure("adapter write path vs raw (rewritten SQL)", med["adapter"], med["raw"], GOAL)
    # Each round's sides ran in the same minutes: their ratio is steadier than the ratio of
    # medians taken from different rounds when the machine's load changes between rounds.
    figure("  the same, adapter/raw per round (median)", statistics.median(paired), None, GOAL)
    figure("adapter vs raw + hand-written provenance", med["adapter"], med["raw+hand"], None)
    print(
        f"spread: adapter {spread(rates['adapter'])}, raw {spread(rates['raw'])}, "
        f"raw+hand {spread(rates['raw+hand'])}; adapter/raw per round {spread(paired)}; "
        f"provenance rows per round: {recorded['adapter']} (adapter) = "
        f"{recorded['raw+hand']} (hand)"
    )


if __name__ == "__main__":
    main()

"""The sample project's SQLite stores, each with the trap it is meant to exercise.

Rows are generated lazily and inserted in batches, so memory stays flat at any scale.
Row counts in the returned :class:`SampleStore` are read back with ``COUNT(*)``.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from dbfold.demo.project import SampleStore, SampleTable
from dbfold.demo.rows import (
    ACTIONS,
    BASE_TS,
    EVENT_TYPES,
    METRICS,
    MODELS,
    SPAN,
    TAGS,
    Sizer,
    iso,
    rng_for,
    sentence,
    stamp,
)

BATCH = 20_000
Row = tuple[Any, ...]

# The same shape in tracking.db and quality.db: the "seven trackers" merge case.
ACTION_LOG_SQL = """CREATE TABLE action_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tracker TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT,
    created_at TEXT NOT NULL
)"""


def _open(path: Path, *, wal: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
    conn.execute("PRAGMA synchronous=OFF")  # a generator, not a database of record
    return conn


def _insert(conn: sqlite3.Connection, sql: str, rows: Iterable[Row]) -> None:
    """Insert in committed batches: a bounded journal and flat memory at any scale."""
    it = iter(rows)
    while chunk := list(islice(it, BATCH)):
        conn.execute("BEGIN")
        conn.executemany(sql, chunk)
        conn.execute("COMMIT")


def _counts(path: Path, files: tuple[str, ...], rel: str, features: tuple[str, ...]) -> SampleStore:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        tables = tuple(
            SampleTable(n, conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names
        )
    # The read above maps the WAL into a fresh -shm; a crashed writer could leave one too,
    # but the described state is the database and its WAL only.
    Path(f"{path}-shm").unlink(missing_ok=True)
    return SampleStore(rel, "sqlite", tables, files, features)


def _leave_pending(path: Path, fill: Callable[[sqlite3.Connection], object]) -> None:
    """Append rows that stay in ``path``-wal, not yet checkpointed into ``path``.

    SQLite checkpoints when the last connection closes, so the rows are written through a
    connection on a twin file, and the twin's database and WAL are copied into place while
    that connection is still open (the state a crashed or still-running writer leaves).
    """
    twin = path.with_name(path.name + ".building")
    path.replace(twin)
    conn = sqlite3.connect(twin, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("BEGIN")
        fill(conn)
        conn.execute("COMMIT")
        shutil.copyfile(twin, path)
        shutil.copyfile(f"{twin}-wal", f"{path}-wal")
    finally:
        conn.close()
    for leftover in (twin, Path(f"{twin}-wal"), Path(f"{twin}-shm")):
        leftover.unlink(missing_ok=True)


def _action_log(rng_name: str, seed: int, n: int, tracker: str) -> Iterator[Row]:
    rng = rng_for(seed, rng_name)
    for i in range(n):
        yield (
            tracker,
            rng.choice(ACTIONS),
            sentence(rng, rng.randint(2, 8)),
            iso(stamp(i, n, rng)),
        )


# -- the stores ----------------------------------------------------------------------------


def build_tracking(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/tracking.db``: actions, events (clashing name), action_log; WAL pending."""
    rel = "data/tracking.db"
    path = root / rel
    n_actions, n_events, n_log = size(10_000), size(4_000), size(2_000)
    pending = max(5, n_actions // 20)
    rng = rng_for(seed, rel)

    def actions(start: int, stop: int) -> Iterator[Row]:
        for i in range(start, stop):
            payload = orjson.dumps({"words": rng.randint(50, 3000), "tag": rng.choice(TAGS)})
            yield (
                i + 1,
                rng.choice(ACTIONS),
                f"u{rng.randint(1, 500)}",
                f"article:{rng.randint(1, 5000)}",
                payload.decode(),
                iso(stamp(i, n_actions, rng)),
            )

    insert_action = "INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?)"
    with closing(_open(path, wal=True)) as conn:
        conn.execute(
            "CREATE TABLE actions (id INTEGER PRIMARY KEY, action TEXT NOT NULL, actor TEXT, "
            "target TEXT, payload TEXT, created_at TEXT NOT NULL)"
        )
        conn.execute("CREATE INDEX idx_actions_created ON actions(created_at)")
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, action_id INTEGER, kind TEXT, "
            "payload TEXT, created_at TEXT)"
        )
        conn.execute(ACTION_LOG_SQL)
        _insert(conn, insert_action, actions(0, n_actions - pending))
        _insert(
            conn,
            "INSERT INTO events (action_id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
            (
                (
                    rng.randint(1, n_actions),
                    rng.choice(EVENT_TYPES),
                    orjson.dumps({"ok": rng.random() > 0.1}).decode(),
                    iso(stamp(i, n_events, rng)),
                )
                for i in range(n_events)
            ),
        )
        _insert(
            conn,
            "INSERT INTO action_log (tracker, action, detail, created_at) VALUES (?, ?, ?, ?)",
            _action_log("tracking.action_log", seed, n_log, "actions"),
        )
    _leave_pending(
        path, lambda c: c.executemany(insert_action, actions(n_actions - pending, n_actions))
    )
    return _counts(path, (rel, rel + "-wal"), rel, ("wal_pending", "name_clash", "same_shape"))


def build_costs(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/costs.db``: api_calls and daily costs; a deleted range leaves free pages."""
    rel = "data/costs.db"
    path = root / rel
    # Enough purged rows to free whole pages even at the tiniest scale.
    n_calls, n_old = size(6_000), size(1_500, minimum=300)
    rng = rng_for(seed, rel)

    def calls() -> Iterator[Row]:
        total = n_old + n_calls
        for i in range(total):
            model, provider, price_in, price_out = rng.choice(MODELS)
            t_in, t_out = rng.randint(20, 4000), rng.randint(10, 2000)
            cost = round((t_in * price_in + t_out * price_out) / 1_000_000, 6)
            yield (
                i + 1,
                model,
                provider,
                t_in,
                t_out,
                cost,
                rng.randint(120, 9000),
                iso(stamp(i, total, rng)),
                f"req-{i + 1:08d}",
            )

    with closing(_open(path)) as conn:
        conn.execute(
            "CREATE TABLE api_calls (id INTEGER PRIMARY KEY, model TEXT NOT NULL, provider TEXT, "
            "tokens_in INTEGER, tokens_out INTEGER, cost_usd REAL, latency_ms INTEGER, "
            "created_at TEXT, request_id TEXT UNIQUE)"
        )
        conn.execute(
            "CREATE TABLE costs (day TEXT NOT NULL, model TEXT NOT NULL, calls INTEGER NOT NULL, "
            "cost_usd REAL NOT NULL, PRIMARY KEY (day, model))"
        )
        _insert(conn, "INSERT INTO api_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", calls())
        # The app once purged its oldest calls and never vacuumed: their pages stay free.
        conn.execute("DELETE FROM api_calls WHERE id <= ?", (n_old,))
        conn.execute(
            "INSERT INTO costs SELECT substr(created_at, 1, 10), model, COUNT(*), "
            "ROUND(SUM(cost_usd), 6) FROM api_calls GROUP BY 1, 2 ORDER BY 1, 2"
        )
    return _counts(path, (rel,), rel, ("free_pages",))


def build_quality(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/quality.db``: scores, and an action_log shaped exactly like tracking's."""
    rel = "data/quality.db"
    path = root / rel
    n_scores, n_log = size(4_000), size(1_500)
    rng = rng_for(seed, rel)
    with closing(_open(path)) as conn:
        conn.execute(
            "CREATE TABLE scores (id INTEGER PRIMARY KEY, article_id INTEGER NOT NULL, "
            "metric TEXT NOT NULL, score REAL, model TEXT, created_at TEXT)"
        )
        conn.execute(ACTION_LOG_SQL)
        _insert(
            conn,
            "INSERT INTO scores (article_id, metric, score, model, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                (
                    rng.randint(1, 5000),
                    rng.choice(("readability", "accuracy", "tone", "seo")),
                    round(rng.uniform(0, 10), 2) if rng.random() > 0.03 else None,
                    rng.choice(MODELS)[0],
                    iso(stamp(i, n_scores, rng)),
                )
                for i in range(n_scores)
            ),
        )
        _insert(
            conn,
            "INSERT INTO action_log (tracker, action, detail, created_at) VALUES (?, ?, ?, ?)",
            _action_log("quality.action_log", seed, n_log, "quality"),
        )
    return _counts(path, (rel,), rel, ("same_shape",))


def build_metrics(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/metrics.db``: a metrics time series and an ``events`` table unlike tracking's."""
    rel = "data/metrics.db"
    path = root / rel
    n_metrics, n_events = size(15_000), size(2_000)
    rng = rng_for(seed, rel)
    with closing(_open(path)) as conn:
        conn.execute(
            "CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "ts INTEGER NOT NULL, value REAL NOT NULL, tags TEXT)"
        )
        conn.execute("CREATE INDEX idx_metrics_name_ts ON metrics(name, ts)")
        conn.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, metric TEXT, severity TEXT, "
            "message TEXT, ts INTEGER)"
        )
        _insert(
            conn,
            "INSERT INTO metrics (name, ts, value, tags) VALUES (?, ?, ?, ?)",
            (
                (
                    METRICS[i % len(METRICS)],
                    BASE_TS + i * (SPAN // n_metrics),
                    round(rng.lognormvariate(3, 1), 3),
                    orjson.dumps({"host": f"web-{rng.randint(1, 4)}"}).decode(),
                )
                for i in range(n_metrics)
            ),
        )
        _insert(
            conn,
            "INSERT INTO events (metric, severity, message, ts) VALUES (?, ?, ?, ?)",
            (
                (
                    rng.choice(METRICS),
                    rng.choice(("info", "warning", "critical")),
                    sentence(rng, 6),
                    stamp(i, n_events, rng),
                )
                for i in range(n_events)
            ),
        )
    return _counts(path, (rel,), rel, ("name_clash",))


def build_queue(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/queue.db``: jobs and job_runs (foreign key); WAL pending."""
    rel = "data/queue.db"
    path = root / rel
    n_jobs = size(2_000)
    pending = max(3, n_jobs // 50)
    rng = rng_for(seed, rel)
    runs: list[Row] = []  # filled as jobs are generated; drained batch by batch

    def jobs(start: int, stop: int) -> Iterator[Row]:
        for i in range(start, stop):
            created = stamp(i, n_jobs, rng)
            status = rng.choices(("done", "failed", "queued", "running"), (70, 10, 15, 5))[0]
            attempts = 0 if status == "queued" else rng.randint(1, 3)
            for a in range(attempts):
                ok = status == "done" and a == attempts - 1
                started = created + 60 * (a + 1)
                finished = None if status == "running" and a == attempts - 1 else started + 30
                error = None if ok or finished is None else "timeout"
                runs.append(
                    (i + 1, a + 1, iso(started), finished and iso(finished), int(ok), error)
                )
            payload = orjson.dumps({"article": rng.randint(1, 5000), "tags": rng.sample(TAGS, 2)})
            updated = iso(created + 60 * (attempts + 1))
            yield (i + 1, rng.choice(("generate", "publish", "score")), payload.decode(), status,
                   rng.randint(0, 9), attempts, iso(created), updated)  # fmt: skip

    def insert(conn: sqlite3.Connection, start: int, stop: int) -> None:
        it = jobs(start, stop)
        while chunk := list(islice(it, BATCH)):
            conn.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk)
            conn.executemany(
                "INSERT INTO job_runs (job_id, attempt, started_at, finished_at, ok, error) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                runs,
            )
            runs.clear()

    with closing(_open(path, wal=True)) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT, "
            "status TEXT NOT NULL DEFAULT 'queued' "
            "CHECK (status IN ('queued', 'running', 'done', 'failed')), "
            "priority INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, "
            "created_at TEXT NOT NULL, updated_at TEXT)"
        )
        conn.execute(
            "CREATE TABLE job_runs (id INTEGER PRIMARY KEY, "
            "job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, "
            "attempt INTEGER NOT NULL, started_at TEXT, finished_at TEXT, ok INTEGER, error TEXT)"
        )
        conn.execute("CREATE INDEX idx_jobs_status ON jobs(status)")
        conn.execute("CREATE INDEX idx_job_runs_job ON job_runs(job_id)")
        conn.execute("BEGIN")
        insert(conn, 0, n_jobs - pending)
        conn.execute("COMMIT")
    _leave_pending(path, lambda c: insert(c, n_jobs - pending, n_jobs))
    return _counts(path, (rel, rel + "-wal"), rel, ("wal_pending", "foreign_keys"))


def build_cache(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``cache/cache.db``: key → blob with an expiry."""
    rel = "cache/cache.db"
    path = root / rel
    n = size(1_000)
    rng = rng_for(seed, rel)
    with closing(_open(path)) as conn:
        conn.execute(
            "CREATE TABLE cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)"
        )
        _insert(
            conn,
            "INSERT INTO cache VALUES (?, ?, ?)",
            (
                (
                    f"prompt:{i:07d}:{rng.getrandbits(32):08x}",
                    rng.randbytes(rng.randint(64, 700)),
                    float(BASE_TS + rng.randrange(SPAN + 30 * 86_400)),
                )
                for i in range(n)
            ),
        )
    return _counts(path, (rel,), rel, ())


def build_temp(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``tmp/temp.db``: a scratch database someone forgot about."""
    rel = "tmp/temp.db"
    path = root / rel
    n = size(500)
    rng = rng_for(seed, rel)
    with closing(_open(path)) as conn:
        conn.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, k TEXT, v TEXT)")
        _insert(
            conn,
            "INSERT INTO scratch (k, v) VALUES (?, ?)",
            ((f"k{i}", sentence(rng, 3)) for i in range(n)),
        )
    return _counts(path, (rel,), rel, ())


BUILDERS: tuple[Callable[[Path, int, Sizer], SampleStore], ...] = (
    build_tracking,
    build_costs,
    build_quality,
    build_metrics,
    build_queue,
    build_cache,
    build_temp,
)

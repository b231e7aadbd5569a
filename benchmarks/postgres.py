"""Benchmark: SQLite → PostgreSQL load speed, dbfold against pgloader and a raw COPY.

    python benchmarks/postgres.py [--rows 250000] [--runs 3] [--quick] [--dir DIR]
                                  [--skip-pgloader] [--server postgresql://…]

Data: a project (``DIR/rows-N/clean``, N = ``--rows``) of four generated SQLite files of
N rows each, every value of its declared type: INTEGER PRIMARY KEY, integers, REAL, TEXT of
varied length (some non-ASCII), ISO timestamp text, a 0/1 column and some NULLs. A second
project (``DIR/rows-N/dirty``) holds the same files with ``'n/a'`` in 1% of the rows of one
INTEGER column per file, which SQLite allows. Both are built once per N and reused (``DIR``
defaults to ``/tmp/dbfold-bench-pg``).

Three sides load the clean project, each into a fresh database (random name, dropped
afterwards), in an order that rotates from run to run:

* **dbfold**: ``migrate(plan, analysis, root, execute=True, target=URL)`` of the plan that
  ``design`` (with the source probe, as ``dbfold design`` runs it) made for a PostgreSQL
  target. Its time is the whole call; "load" (verification excluded) is that minus the
  report's ``verify.seconds``, so verify work done during the copy (hashing the source
  rows as they are read) counts as load. The run must verify green and hold every row.
* **pgloader** (the Debian package, installed here with ``apt-get`` when missing and this
  runs as root; skipped with the reason otherwise): ``pgloader sqlite:///FILE URL`` once per
  file, with its defaults (it creates the tables, indexes and sequences itself).
* **raw COPY**: what a hand-written script does: one psycopg connection, per file a
  ``CREATE TABLE`` with the declared types mapped (INTEGER → bigint, REAL → double
  precision, TEXT → text), ``COPY … FROM STDIN`` with ``write_row`` for each row of a
  sqlite3 cursor, then ``ADD PRIMARY KEY`` (the same end state as the other two), one
  commit per file.

Then the peak RSS of a dbfold migrate in a subprocess, and the dirty project: pgloader
(with a timeout, since it may hang) and dbfold, each row counted against the sources.

Every figure is one line (benchmarks/figures.py): name, ours, baseline, ratio, goal, met;
medians of ``--runs`` runs, spreads (min..max) printed beside them.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from figures import HEADER, figure, median, spread

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_DIR = Path("/tmp/dbfold-bench-pg")


@dataclass(frozen=True)
class Store:
    """One generated SQLite file: its table, DDL, and the INTEGER column made dirty."""

    file: str
    table: str
    ddl: str
    dirty: str


STORES = (
    Store(
        "events.db",
        "events",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,"
        " kind TEXT NOT NULL, amount REAL, created_at TEXT NOT NULL,"
        " processed INTEGER NOT NULL, payload TEXT)",
        "user_id",
    ),
    Store(
        "users.db",
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT,"
        " age INTEGER, score REAL, signed_up TEXT, verified INTEGER NOT NULL, bio TEXT)",
        "age",
    ),
    Store(
        "metrics.db",
        "samples",
        "CREATE TABLE samples (id INTEGER PRIMARY KEY, host TEXT NOT NULL, metric TEXT NOT NULL,"
        " at TEXT NOT NULL, value REAL NOT NULL, count INTEGER, ok INTEGER NOT NULL)",
        "count",
    ),
    Store(
        "orders.db",
        "orders",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL,"
        " sku TEXT NOT NULL, quantity INTEGER, unit_price REAL, ordered_at TEXT NOT NULL,"
        " shipped INTEGER NOT NULL, comment TEXT)",
        "quantity",
    ),
)

#: Text to cut varied-length values from (a little non-ASCII, as real text has).
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat — café, naïve, "
    "Grüße, 日本語のテキスト. Duis aute irure dolor in reprehenderit in voluptate velit "
    "esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non "
    "proident, sunt in culpa qui officia deserunt mollit anim id est laborum. "
) * 4
KINDS = ("click", "view", "purchase", "signup", "logout", "error")
HOSTS = tuple(f"web-{i:02d}.eu-west" for i in range(24))
METRICS = ("cpu", "mem", "disk_io", "net_rx", "net_tx", "latency_p99", "requests")
EPOCH = 1_700_000_000  # 2023-11-14


def _text(rng: random.Random, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi)
    start = rng.randrange(0, len(LOREM) - n)
    return LOREM[start : start + n]


def _ts(seconds: int, iso_t: bool) -> str:
    t = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ" if iso_t else "%Y-%m-%d %H:%M:%S", t)


def _rows(store: Store, n: int, start: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """Rows ``start .. start + n - 1`` of ``store``'s table; every value of its type."""
    out: list[tuple[Any, ...]] = []
    r = rng.random
    for i in range(start, start + n):
        if store.table == "events":
            out.append(
                (
                    i,
                    rng.randint(1, 50_000),
                    KINDS[i % len(KINDS)],
                    None if r() < 0.1 else round(r() * 500, 2),
                    _ts(EPOCH + i * 7, True),
                    int(r() < 0.6),
                    None if r() < 0.2 else _text(rng, 0, 240),
                )
            )
        elif store.table == "users":
            out.append(
                (
                    i,
                    f"user{i}@example.org",
                    _text(rng, 3, 30),
                    None if r() < 0.05 else rng.randint(16, 90),
                    r() * 1000,
                    None if r() < 0.05 else _ts(EPOCH - i * 53, False),
                    int(r() < 0.5),
                    None if r() < 0.4 else _text(rng, 10, 400),
                )
            )
        elif store.table == "samples":
            out.append(
                (
                    i,
                    HOSTS[i % len(HOSTS)],
                    METRICS[i % len(METRICS)],
                    _ts(EPOCH + i, True),
                    r() * 100,
                    None if r() < 0.1 else rng.randint(0, 1_000_000),
                    int(r() < 0.97),
                )
            )
        else:
            out.append(
                (
                    i,
                    rng.randint(1, 100_000),
                    f"SKU-{rng.randint(1, 9999):05d}",
                    None if r() < 0.02 else rng.randint(1, 20),
                    None if r() < 0.02 else round(r() * 200, 2),
                    _ts(EPOCH + i * 11, False),
                    int(r() < 0.8),
                    None if r() < 0.7 else _text(rng, 5, 120),
                )
            )
    return out


def _build_file(path: Path, store: Store, n: int, seed: int) -> None:
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute(store.ddl)
    width = store.ddl.count(",") + 1
    insert = f"INSERT INTO {store.table} VALUES ({', '.join('?' * width)})"
    for start in range(1, n + 1, 50_000):
        con.executemany(insert, _rows(store, min(50_000, n + 1 - start), start, rng))
    con.commit()
    con.close()


def build_projects(base: Path, n: int) -> tuple[Path, Path]:
    """``base/clean`` and ``base/dirty``, built once per row count and reused."""
    clean, dirty = base / "clean", base / "dirty"
    marker = base / "rows.txt"
    if marker.exists() and marker.read_text().strip() == str(n):
        return clean, dirty
    t = time.perf_counter()
    for root in (clean, dirty):
        shutil.rmtree(root, ignore_errors=True)
        (root / "data").mkdir(parents=True)
    for k, store in enumerate(STORES):
        _build_file(clean / "data" / store.file, store, n, seed=k)
        src = sqlite3.connect(clean / "data" / store.file)
        dst = sqlite3.connect(dirty / "data" / store.file)
        src.backup(dst)
        src.close()
        # SQLite keeps text in an INTEGER column as text: 1% of rows, as real files have.
        dst.execute(f"UPDATE {store.table} SET {store.dirty} = 'n/a' WHERE id % 100 = 7")
        dst.commit()
        dst.close()
    marker.write_text(f"{n}\n")
    print(f"built {base} ({len(STORES)} × {n:,} rows, twice) in {time.perf_counter() - t:.1f} s")
    return clean, dirty


def source_rows(root: Path) -> dict[str, int]:
    """Rows per table of the generated files, counted by sqlite3 (read-only)."""
    out = {}
    for store in STORES:
        con = sqlite3.connect(f"file:{root / 'data' / store.file}?mode=ro", uri=True)
        out[store.table] = con.execute(f"SELECT count(*) FROM {store.table}").fetchone()[0]
        con.close()
    return out


# --- the server: fresh databases ------------------------------------------------------


def db_url(server: str, name: str) -> str:
    """``server`` with its database replaced by ``name`` (query kept)."""
    u = urlsplit(server)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def redact(url: str) -> str:
    """The URL without a password, for messages."""
    u = urlsplit(url)
    if u.password is None:
        return url
    netloc = u.netloc.replace(f":{u.password}@", ":***@")
    return urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))


def _admin(server: str) -> psycopg.Connection[Any]:
    u = urlsplit(server)
    url = server if u.path not in ("", "/") else db_url(server, "postgres")
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


@contextmanager
def fresh_db(server: str) -> Iterator[str]:
    """A new database with a random name, dropped on the way out; yields its URL."""
    name = f"dbfold_bench_{secrets.token_hex(4)}"
    with _admin(server) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield db_url(server, name)
    finally:
        with _admin(server) as con:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def target_rows(url: str, tables: list[str]) -> dict[str, int | None]:
    """Rows per table in the database at ``url`` (None: no such table on the search path).

    Tables are looked for on the search path first, then in any user schema (pgloader and
    dbfold choose their own schemas).
    """
    out: dict[str, int | None] = {}
    with psycopg.connect(url, autocommit=True) as con:
        for t in tables:
            row = con.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relname = %s AND c.relkind IN ('r', 'p')"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " ORDER BY n.nspname <> ALL (current_schemas(false)), n.nspname LIMIT 1",
                (t,),
            ).fetchone()
            if row is None:
                out[t] = None
                continue
            q = sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(row[0]), sql.Identifier(t)
            )
            got = con.execute(q).fetchone()
            out[t] = int(got[0]) if got else None
    return out


def rejected_rows(url: str) -> tuple[dict[str, int], str | None]:
    """Rows dbfold set aside in ``dbfold_rejects`` (any schema), per source table, and one
    reason; empty when there is no such table."""
    with psycopg.connect(url, autocommit=True) as con:
        row = con.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = 'dbfold_rejects' AND c.relkind = 'r' ORDER BY 1 LIMIT 1"
        ).fetchone()
        if row is None:
            return {}, None
        name = sql.SQL("{}.dbfold_rejects").format(sql.Identifier(row[0]))
        counts = con.execute(
            sql.SQL("SELECT source_table, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(name)
        ).fetchall()
        one = con.execute(sql.SQL("SELECT reason FROM {} LIMIT 1").format(name)).fetchone()
    return {str(t): int(n) for t, n in counts}, (str(one[0]) if one else None)


# --- the baselines ----------------------------------------------------------------------

PG_TYPES = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}


def raw_copy(root: Path, url: str) -> int:
    """The hand-written loader: CREATE TABLE, COPY with write_row, ADD PRIMARY KEY."""
    total = 0
    with psycopg.connect(url) as pg:
        for store in STORES:
            src = sqlite3.connect(f"file:{root / 'data' / store.file}?mode=ro", uri=True)
            info = src.execute(f"PRAGMA table_info({store.table})").fetchall()
            cols = [r[1] for r in info]
            defs = ", ".join(
                f'"{r[1]}" {PG_TYPES[r[2].upper()]}{" NOT NULL" if r[3] else ""}' for r in info
            )
            keys = ", ".join(f'"{r[1]}"' for r in info if r[5])
            names = ", ".join(f'"{c}"' for c in cols)
            with pg.cursor() as cur:
                cur.execute(f'CREATE TABLE "{store.table}" ({defs})')
                with cur.copy(f'COPY "{store.table}" ({names}) FROM STDIN') as cp:
                    for row in src.execute(f'SELECT {names} FROM "{store.table}"'):
                        cp.write_row(row)
                        total += 1
                cur.execute(f'ALTER TABLE "{store.table}" ADD PRIMARY KEY ({keys})')
            pg.commit()
            src.close()
    return total


@dataclass
class PgloaderRun:
    """One pgloader load of one file: how long, how it ended, what it said."""

    seconds: float
    returncode: int | None  # None: killed at the timeout
    output: str

    @property
    def errors(self) -> list[str]:
        """pgloader's ERROR/FATAL lines, without its timestamp and level prefix."""
        out = []
        for line in self.output.splitlines():
            for mark in (" ERROR ", " FATAL "):
                if mark in line:
                    out.append(line.split(mark, 1)[1].strip())
        return out

    @property
    def failed(self) -> bool:
        """Killed, a non-zero exit, or errors logged (pgloader exits 0 after some)."""
        return self.returncode != 0 or bool(self.errors)

    def how(self) -> str:
        """A one-line account of the run, in pgloader's own words."""
        if self.returncode is None:
            end = f"hung: killed after {self.seconds:.0f} s"
        else:
            end = f"exit {self.returncode} after {self.seconds:.1f} s"
        errors = self.errors
        if not errors:
            return end
        junk = [e for e in errors if "junk in string" in e.lower()]
        first = (junk or errors)[0]
        return f"{len(errors)} ERROR line(s), {first[:100]!r}, then {end}"


def _start_pgloader(path: Path, url: str) -> tuple[subprocess.Popen[str], float]:
    proc = subprocess.Popen(
        ["pgloader", f"sqlite:///{path}", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    return proc, time.perf_counter()


def _finish_pgloader(proc: subprocess.Popen[str], started: float, deadline: float) -> PgloaderRun:
    """Wait for pgloader until ``deadline``; past it, kill its process group (it hangs)."""
    try:
        out, _ = proc.communicate(timeout=max(0.0, deadline - time.perf_counter()))
        code: int | None = proc.returncode
        seconds = time.perf_counter() - started
    except subprocess.TimeoutExpired:
        seconds = time.perf_counter() - started
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        code = None
    return PgloaderRun(seconds, code, out or "")


def pgloader_all(root: Path, url: str, timeout: float) -> list[PgloaderRun]:
    """``pgloader sqlite:///FILE URL`` for each file into the same database, one by one."""
    runs = []
    for s in STORES:
        proc, started = _start_pgloader(root / "data" / s.file, url)
        runs.append(_finish_pgloader(proc, started, started + timeout))
    return runs


def pgloader_together(root: Path, url: str, timeout: float) -> list[PgloaderRun]:
    """The same, all files at once under one deadline: a hang costs one timeout, not four.

    (A hung pgloader sits idle, so the runs do not slow each other.)
    """
    started = [_start_pgloader(root / "data" / s.file, url) for s in STORES]
    deadline = time.perf_counter() + timeout
    return [_finish_pgloader(proc, t, deadline) for proc, t in started]


def setup_pgloader() -> str | None:
    """Install pgloader with apt-get when missing; the reason it cannot be used, or None."""
    if shutil.which("pgloader"):
        return None
    if os.geteuid() != 0:
        return "pgloader is not installed and this is not root (apt-get install -y pgloader)"
    if not shutil.which("apt-get"):
        return "pgloader is not installed and there is no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("installing pgloader (apt-get install -y pgloader) …", flush=True)
    reason = "installed, but no pgloader on PATH"
    for cmds in (
        [["apt-get", "install", "-y", "pgloader"]],
        [["apt-get", "update"], ["apt-get", "install", "-y", "pgloader"]],
    ):
        ok = True
        for cmd in cmds:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                ok = False
                last = (done.stderr or done.stdout).strip().splitlines()
                reason = last[-1] if last else f"exit {done.returncode}"
                break
        if ok and shutil.which("pgloader"):
            return None
    return f"apt-get install -y pgloader failed: {reason}"


# --- dbfold -----------------------------------------------------------------------------


@dataclass
class Prepared:
    """A project's analysis and plan for a PostgreSQL target, saved in its .dbfold/."""

    root: Path
    analysis: Any
    plan: Any
    seconds: float


def prepare(root: Path, server: str) -> Prepared:
    """analyze, design for PostgreSQL (with the value probe), saved as the CLI saves them."""
    from dbfold.design import DesignOptions, design, probe_sources
    from dbfold.scan import analyze
    from dbfold.state import plan_path, save_analysis, write_atomic

    t = time.perf_counter()
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis, options=DesignOptions(target=db_url(server, "dbfold_unified")))
    plan = probe_sources(plan, analysis, root)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return Prepared(root, analysis, plan, time.perf_counter() - t)


@dataclass
class OursRun:
    seconds: float
    verify_seconds: float
    report: Any


def run_ours(prep: Prepared, url: str) -> OursRun:
    """dbfold's migrate --execute into ``url``; its wall time and its verification's."""
    from dbfold.migrate import migrate

    t = time.perf_counter()
    rep = migrate(prep.plan, prep.analysis, prep.root, execute=True, target=url)
    seconds = time.perf_counter() - t
    if rep.verify is None:
        raise RuntimeError("migrate --execute returned no verification")
    if not rep.ok:
        bad = [p.message for p in rep.problems if p.severity == "error"]
        raise RuntimeError(
            f"migrate not ok: verify ok={rep.verify.ok},"
            f" mismatches={[c.target for c in rep.verify.mismatches]}, errors={bad[:3]}"
        )
    return OursRun(seconds, float(rep.verify.seconds), rep)


RSS_CODE = """
import sys
from pathlib import Path
from dbfold.migrate import migrate
from dbfold.plan import Plan
from dbfold.state import load_analysis, plan_path
root = Path(sys.argv[1])
plan = Plan.from_json(plan_path(root).read_bytes())
rep = migrate(plan, load_analysis(root), root, execute=True, target=sys.argv[2])
assert rep.verify is not None and rep.verify.ok, rep.verify
for line in open('/proc/self/status'):
    if line.startswith('VmHWM:'):
        print(rep.rows, int(line.split()[1]))
"""


def peak_rss(prep: Prepared, url: str) -> tuple[int, float]:
    """Rows and peak RSS (MB, the child's own VmHWM) of a migrate in a fresh subprocess."""
    done = subprocess.run(
        [sys.executable, "-c", RSS_CODE, str(prep.root), url],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the migrate subprocess failed: {tail[0]}")
    rows, kib = done.stdout.split()
    return int(rows), int(kib) / 1024


# --- the parts ----------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def clean_part(args: argparse.Namespace, clean: Path, pgloader: str | None) -> Prepared | None:
    """The three sides on the clean project, alternating; the figures."""
    expect = source_rows(clean)
    rows = sum(expect.values())
    tables = list(expect)
    prep: Prepared | None = None
    skip_ours: str | None = None
    try:
        prep = prepare(clean, args.server)
        print(f"dbfold analyze + design + probe: {prep.seconds:.2f} s (not in the figures)")
    except Exception as exc:  # reported and skipped: the baselines go on
        skip_ours = _error(exc)

    ours: list[OursRun] = []
    raw: list[float] = []
    pgl: list[float] = []
    pgl_note: str | None = pgloader

    def side_ours(url: str) -> None:
        nonlocal skip_ours
        assert prep is not None
        try:
            run = run_ours(prep, url)
        except Exception as exc:
            skip_ours = _error(exc)
            return
        got = target_rows(url, tables)
        if got != expect:
            skip_ours = f"dbfold loaded {got}, the sources hold {expect}"
            return
        ours.append(run)

    def side_raw(url: str) -> None:
        t = time.perf_counter()
        n = raw_copy(clean, url)
        raw.append(time.perf_counter() - t)
        assert n == rows, (n, rows)

    def side_pgloader(url: str) -> None:
        nonlocal pgl_note
        runs = pgloader_all(clean, url, timeout=args.pgloader_timeout)
        failed = [r for r in runs if r.failed]
        if failed:
            pgl_note = f"pgloader failed on the clean files: {failed[0].how()}"
            return
        got = target_rows(url, tables)
        if got != expect:
            pgl_note = f"pgloader loaded {got}, the sources hold {expect}"
            return
        pgl.append(sum(r.seconds for r in runs))

    sides: list[tuple[str, Callable[[str], None]]] = [("raw", side_raw)]
    if skip_ours is None:
        sides.insert(0, ("dbfold", side_ours))
    if pgloader is None:
        sides.append(("pgloader", side_pgloader))
    for k in range(args.runs):
        order = sides[k % len(sides) :] + sides[: k % len(sides)]
        for name, side in order:
            if (name == "dbfold" and skip_ours) or (name == "pgloader" and pgl_note):
                continue
            with fresh_db(args.server) as url:
                side(url)
        print(f"  run {k + 1}/{args.runs}: " + ", ".join(n for n, _ in order) + " done", flush=True)

    print(
        f"clean project: {rows:,} rows in {len(STORES)} SQLite files "
        f"({', '.join(f'{t} {n:,}' for t, n in expect.items())}); medians of {args.runs} runs"
    )
    raw_rate = [rows / s for s in raw]
    print(f"  raw COPY rows/s {spread(raw_rate)}")
    if pgl:
        print(f"  pgloader rows/s {spread([rows / s for s in pgl])}")
    if ours:
        load = [rows / (r.seconds - r.verify_seconds) for r in ours]
        whole = [rows / r.seconds for r in ours]
        print(
            f"  dbfold rows/s: load {spread(load)}, with verify {spread(whole)};"
            f" verify s {spread([r.verify_seconds for r in ours])},"
            f" total s {spread([r.seconds for r in ours])}"
        )
    if ours and skip_ours:
        print(f"  dbfold failed in a later run (its figures use the runs before): {skip_ours}")
    print(HEADER)
    if ours:
        load_med = median([rows / (r.seconds - r.verify_seconds) for r in ours])
        whole_med = median([rows / r.seconds for r in ours])
        if pgl:
            figure(
                "load (verify excluded) vs pgloader, rows/s",
                load_med,
                median([rows / s for s in pgl]),
                3,
            )
        else:
            print(f"load vs pgloader: baseline skipped: {pgl_note}")
        figure("load (verify excluded) vs raw COPY, rows/s", load_med, median(raw_rate), 0.8)
        figure("load with verify vs raw COPY, rows/s", whole_med, median(raw_rate), 0.5)
    else:
        print(f"dbfold PostgreSQL migrate not available: {skip_ours}")
        figure("raw COPY (baseline alone), rows/s", median(raw_rate), None, None)
        if pgl:
            figure("pgloader (baseline alone), rows/s", median([rows / s for s in pgl]), None, None)
        else:
            print(f"pgloader: baseline skipped: {pgl_note}")
    if ours and prep is not None:
        with fresh_db(args.server) as url:
            try:
                n, mb = peak_rss(prep, url)
                assert n == rows, (n, rows)
                figure("migrate --execute peak RSS, MB", mb, None, 150, higher_is_better=False)
            except Exception as exc:
                print(f"migrate peak RSS: not measured: {_error(exc)}")
        return prep
    return None


def dirty_part(args: argparse.Namespace, dirty: Path, pgloader: str | None, ours: bool) -> None:
    """Text in INTEGER columns: pgloader (with a timeout) and dbfold, rows counted."""
    expect = source_rows(dirty)
    rows = sum(expect.values())
    tables = list(expect)
    print(
        f"dirty project: the same files, 'n/a' in 1% of one INTEGER column each"
        f" ({', '.join(f'{s.table}.{s.dirty}' for s in STORES)})"
    )
    if pgloader is None:
        with fresh_db(args.server) as url:
            runs = pgloader_together(dirty, url, timeout=args.pgloader_timeout)
            got = target_rows(url, tables)
        loaded = sum(v or 0 for v in got.values())
        for store, r in zip(STORES, runs, strict=True):
            state = r.how()
            print(
                f"  pgloader {store.file}: {state}; {got[store.table]} of "
                f"{expect[store.table]:,} rows in the target"
            )
        figure("dirty: pgloader rows loaded of source rows", loaded, rows, None)
    else:
        print(f"  pgloader: baseline skipped: {pgloader}")
    if not ours:
        print("  dbfold: skipped (its PostgreSQL migrate is not available, see above)")
        return
    try:
        prep = prepare(dirty, args.server)
        with fresh_db(args.server) as url:
            run = run_ours(prep, url)
            got = target_rows(url, tables)
            rejected, reason = rejected_rows(url)
    except Exception as exc:
        print(f"  dbfold on the dirty project failed: {_error(exc)}")
        figure("dirty: dbfold rows loaded of source rows", 0, rows, 1.0)
        return
    loaded = sum(v or 0 for v in got.values())
    print(
        f"  dbfold: verify ok={run.report.verify.ok} in {run.seconds:.1f} s;"
        f" rows in their tables {got}"
    )
    if rejected:
        print(
            f"  dbfold set {sum(rejected.values()):,} rows aside in dbfold_rejects {rejected};"
            f" e.g. {(reason or '')[:120]!r}"
        )
    # The goal is every row in its table, no more and no fewer: a surplus is a miss too
    # (the type rules make a mixed column text; dbfold_rejects is for values
    # PostgreSQL cannot hold, which this project has none of).
    figure(
        "dirty: dbfold rows in their tables of source rows",
        loaded if got == expect else min(loaded, rows - 1),
        rows,
        1.0,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None, help="rows per file (default 250,000)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20,000 rows per file, 1 run")
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the projects live")
    ap.add_argument("--skip-pgloader", action="store_true")
    ap.add_argument("--server", default=os.environ.get("DBFOLD_BENCH_SERVER", DEFAULT_SERVER))
    ap.add_argument(
        "--pgloader-timeout", type=float, default=None, help="seconds per file (default: scaled)"
    )
    args = ap.parse_args()
    if args.rows is None:
        args.rows = 20_000 if args.quick else 250_000
    if args.quick:
        args.runs = 1
    if args.pgloader_timeout is None:
        # pgloader loads a file of 250,000 rows in ~2 s here; it hangs after `junk in string`.
        args.pgloader_timeout = 10 + args.rows / 25_000
    try:
        with _admin(args.server):
            pass
    except psycopg.Error as exc:
        print(f"skipped: no PostgreSQL server at {redact(args.server)}: {_error(exc)}")
        return
    pgloader = "--skip-pgloader given" if args.skip_pgloader else setup_pgloader()
    if pgloader:
        print(f"pgloader baseline skipped: {pgloader}")
    else:
        ver = subprocess.run(["pgloader", "--version"], capture_output=True, text=True)
        print(ver.stdout.strip().splitlines()[0] if ver.stdout else "pgloader (version unknown)")
    clean, dirty = build_projects(args.dir.absolute() / f"rows-{args.rows}", args.rows)
    prep = clean_part(args, clean, pgloader)
    dirty_part(args, dirty, pgloader, ours=prep is not None)


if __name__ == "__main__":
    main()

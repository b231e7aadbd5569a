"""migrate, verify and optimize into PostgreSQL, through the public API and the CLI.

Each test gets a database of its own (the ``pg_url`` fixture creates and drops it, and skips
with the reason when no server answers).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.design.options import DesignOptions
from dbfold.errors import MigrateError
from dbfold.migrate import migrate
from dbfold.migrate.pg_verify import verify_postgres
from dbfold.model import Analysis
from dbfold.pgurl import PgTarget
from dbfold.plan import Plan
from dbfold.report.facts import read_pg_target
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

psycopg = pytest.importorskip("psycopg")
CLI = [sys.executable, "-c", "from dbfold.cli import main; main()"]


def prepare_pg(root: Path, url: str) -> tuple[Plan, Analysis]:
    """Analyze and design ``root`` for a PostgreSQL target, saving both as the CLI does."""
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis, options=DesignOptions(target=url))
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return plan, analysis


def sha(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(".dbfold")
    }


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as con:
        row = con.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def hostile_project(root: Path) -> None:
    """Every value class PostgreSQL is strict about, and names it quotes."""
    (root / "data").mkdir(parents=True)
    con = sqlite3.connect(root / "data" / "odd.db")
    con.execute(
        'CREATE TABLE "Select" (id INTEGER PRIMARY KEY, "Mixed Case" INTEGER, note TEXT,'
        ' raw BLOB, "a""quote" REAL, "naïve ünïcode" TEXT)'
    )
    rows = []
    for i in range(1, 201):
        mixed: object = i
        if i % 50 == 0:
            mixed = "n/a"  # text in an INTEGER column, as SQLite allows
        note = f"row {i}"
        if i == 7:
            note = "nul\x00inside"
        rows.append((i, mixed, note, bytes([i % 256, 0, 255]), i / 3, "ünï"))
    con.executemany('INSERT INTO "Select" VALUES (?, ?, ?, ?, ?, ?)', rows)
    # Text that is not UTF-8, stored through a blob cast.
    con.execute("UPDATE \"Select\" SET note = CAST(x'fffe41' AS TEXT) WHERE id = 9")
    # A key that is no rowid alias may hold NULL in SQLite, never in PostgreSQL.
    con.execute("CREATE TABLE autoinc (id integer auto_increment primary key, ticket text)")
    con.executemany("INSERT INTO autoinc VALUES (?, ?)", [(None, "a"), (None, "b"), (7, "c")])
    long_name = "t_" + "x" * 70
    con.execute(f'CREATE TABLE "{long_name}" (k INTEGER PRIMARY KEY, v TEXT)')
    con.executemany(f'INSERT INTO "{long_name}" VALUES (?, ?)', [(i, str(i)) for i in range(30)])
    con.commit()
    con.close()
    with open(root / "data" / "log.jsonl", "w") as f:
        for i in range(120):
            doc = {"n": i, "when": f"2024-05-{1 + i % 28:02d}T10:00:00Z", "big": 2**70 + i}
            if i == 3:
                doc["text"] = "has \u0000 escape"
            f.write(json.dumps(doc) + "\n")


def test_sample_project_into_postgres(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.01, seed=3)
    plan, analysis = prepare_pg(root, pg_url)
    before = sha(root)
    dry = migrate(plan, analysis, root)
    assert (
        not dry.executed
        and count(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    )
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    assert report.mode == "new"
    copied = {r.target: r for r in report.sources if r.status == "copied"}
    for t in plan.tables:
        if t.name in copied:
            n = count(pg_url, f'SELECT count(*) FROM public."{t.name}"')
            assert n >= copied[t.name].rows
    # Nothing of the build is left beside the target schema.
    assert (
        count(pg_url, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'dbfold_build_%'") == 0
    )
    again = migrate(plan, analysis, root, execute=True)
    assert again.mode == "incremental" and again.verify is not None and again.verify.ok
    assert {r.status for r in again.sources} <= {"unchanged", "skipped"}
    assert sha(root) == before
    # The report reads the same journal back: the build's run, with every copied row.
    facts = read_pg_target(PgTarget(pg_url), plan)
    assert facts.exists and facts.error is None and facts.runs[0].built
    assert facts.runs[0].rows == report.rows
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", facts.runs[0].finished)


def test_appended_rows_and_a_tampered_target(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.01, seed=4)
    plan, analysis = prepare_pg(root, pg_url)
    assert migrate(plan, analysis, root, execute=True).verify.ok  # type: ignore[union-attr]
    src = root / "data" / "metrics.db"
    con = sqlite3.connect(src)
    (name,) = con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 1"
    ).fetchone()
    cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
    con.execute(
        f'INSERT INTO "{name}" SELECT * FROM "{name}" WHERE rowid = 1'.replace(
            "SELECT *", "SELECT " + ", ".join("NULL" if c == cols[0] else f'"{c}"' for c in cols)
        )
    )
    con.commit()
    con.close()
    target = PgTarget(pg_url)
    pending = verify_postgres(plan, analysis, root, target)
    assert pending.ok and sum(c.pending_rows for c in pending.checks) == 1
    again = migrate(plan, analysis, root, execute=True)
    assert "appended" in {r.status for r in again.sources}
    assert again.verify is not None and again.verify.ok
    # A value changed behind dbfold's back is found, and the row is named.
    table = next(t for t in plan.tables if t.sources and t.sources[0].store == "data/metrics.db")
    text_col = next(c.name for c in table.columns if c.type == "text")
    with psycopg.connect(pg_url) as pg:
        pg.execute(
            f'UPDATE public."{table.name}" SET "{text_col}" = %s WHERE ctid ='
            f' (SELECT ctid FROM public."{table.name}" WHERE "{text_col}" IS NOT NULL LIMIT 1)',
            ("tampered!",),
        )
    bad = verify_postgres(plan, analysis, root, target)
    assert not bad.ok
    (diff,) = [c for c in bad.checks if not c.ok]
    assert (
        diff.target == table.name and diff.first_difference and "tampered!" in diff.first_difference
    )


def test_every_value_class_arrives_or_is_kept_in_rejects(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "odd"
    hostile_project(root)
    plan, analysis = prepare_pg(root, pg_url)
    before = sha(root)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    names = {t.name for t in plan.tables}
    assert all(len(n.encode()) <= 63 for n in names)
    sel = next(t for t in plan.tables if t.sources[0].table == "Select")
    rows = count(pg_url, f'SELECT count(*) FROM public."{sel.name}"')
    rejected = count(
        pg_url, "SELECT count(*) FROM public.dbfold_rejects WHERE source_table = 'Select'"
    )
    assert rows + rejected == 200 and rows >= 190
    auto = next(t for t in plan.tables if t.sources[0].table == "autoinc")
    assert count(pg_url, f'SELECT count(*) FROM public."{auto.name}"') == 1
    assert (
        count(
            pg_url,
            "SELECT count(*) FROM public.dbfold_rejects WHERE source_table = 'autoinc'"
            " AND reason LIKE '%NULL in a NOT NULL or key column%'",
        )
        == 2
    )
    log = next(t for t in plan.tables if t.sources[0].store == "data/log.jsonl")
    assert (
        count(pg_url, f'SELECT count(*) FROM public."{log.name}"')
        + count(pg_url, "SELECT count(*) FROM public.dbfold_rejects WHERE store = 'data/log.jsonl'")
        == 120
    )
    for p in report.problems:
        assert "dbfold_rejects" not in p.message or "rows PostgreSQL cannot hold" in p.message
    assert sha(root) == before


def test_bad_targets_get_one_clear_line(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.005, seed=1)
    plan, analysis = prepare_pg(root, pg_url)
    server = pg_url.rsplit("/", 1)[0]
    for url, words in (
        ("postgresql://postgres:s3cret@127.0.0.1:1/x", "no PostgreSQL server answers"),
        (f"{server}/no_such_db_dbfold", "database does not exist"),
        ("postgresql://no_such_user_x:pw@127.0.0.1:5432/postgres", "does not exist"),
    ):
        done = subprocess.run(
            [*CLI, "migrate", str(root), "--execute", "--target", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert words in out and "Traceback" not in out
        assert "s3cret" not in out and "pw@" not in out
    # A schema holding tables dbfold did not make is refused, then replaced with --force.
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute("CREATE TABLE public.precious (x int)")
        pg.execute("INSERT INTO public.precious VALUES (42)")
    with pytest.raises(MigrateError, match="did not make"):
        migrate(plan, analysis, root, execute=True)
    forced = migrate(plan, analysis, root, execute=True, force=True)
    assert forced.verify is not None and forced.verify.ok and forced.backup
    backup = forced.backup.removeprefix("schema ")
    assert count(pg_url, f'SELECT x FROM "{backup}".precious') == 42


def test_kill_9_then_rerun_resumes(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "big"
    build_sample_project(root, scale=0.5, seed=7)
    plan, analysis = prepare_pg(root, pg_url)
    before = sha(root)
    rng = random.Random(11)
    for _ in range(3):
        proc = subprocess.Popen(
            [*CLI, "migrate", str(root), "--execute", "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run(
        [*CLI, "migrate", str(root), "--execute", "-q"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    check = verify_postgres(plan, analysis, root, PgTarget(pg_url))
    assert check.ok, check
    assert sha(root) == before


def test_verify_and_optimize_commands(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.005, seed=2)
    prepare_pg(root, pg_url)
    env_run: Callable[..., subprocess.CompletedProcess[str]] = lambda *a: subprocess.run(  # noqa: E731
        [*CLI, *a], capture_output=True, text=True, timeout=180
    )
    assert env_run("migrate", str(root), "--execute", "-q").returncode in (0, 1)
    done = env_run("verify", str(root), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["checks"]
    opt = env_run("optimize", pg_url, "--json")
    assert opt.returncode == 0, opt.stdout + opt.stderr
    assert "VACUUM" in " ".join(json.loads(opt.stdout)["steps"])
    # While another run holds the target, optimize refuses and says why.
    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('dbfold:public'))")
        busy = env_run("optimize", pg_url)
        assert busy.returncode == 2 and "another dbfold run" in busy.stdout + busy.stderr


def test_connection_dropped_mid_copy_then_resumed(tmp_path: Path, pg_url: str) -> None:
    """The server ends the session during a COPY: the run stops with one clear line, the
    next run resumes the build (committed sources stay done) and verification passes."""
    import threading

    root = tmp_path / "proj"
    build_sample_project(root, scale=0.3, seed=9)
    plan, analysis = prepare_pg(root, pg_url)
    stop = threading.Event()
    killed: list[int] = []

    def killer() -> None:
        with psycopg.connect(pg_url, autocommit=True) as watch:
            while not stop.is_set() and not killed:
                for (pid,) in watch.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query LIKE 'COPY %%FROM STDIN%%' AND pid <> pg_backend_pid()"
                ).fetchall():
                    watch.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.005)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(MigrateError, match=r"connection to PostgreSQL failed"):
            migrate(plan, analysis, root, execute=True)
    finally:
        stop.set()
        thread.join()
    assert killed
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify


def test_a_schema_of_its_own(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.005, seed=5)
    plan, analysis = prepare_pg(root, pg_url)
    schema = 'Analytics "Ünï" select'
    report = migrate(plan, analysis, root, execute=True, schema=schema)
    assert report.verify is not None and report.verify.ok
    assert "Analytics" in report.target
    quoted = '"' + schema.replace('"', '""') + '"'
    assert count(pg_url, f"SELECT count(*) FROM {quoted}.dbfold_migrations") > 0
    assert count(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
    check = verify_postgres(plan, analysis, root, PgTarget(pg_url, schema))
    assert check.ok

"""verify compares inside SQLite, and exactly: each kind of change to the target is caught.

Every case migrates a small project, then changes the target behind dbfold's back the way a
bug in the copy could (a value's storage class, its case under a NOCASE column, one
duplicate traded for another, a row gone) and checks that verify fails and names the key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import prepare
from dbfold.migrate import migrate, verify
from dbfold.migrate.report import VerifyReport
from dbfold.model import Analysis
from dbfold.plan import Plan


def _project(root: Path, ddl: str, rows: list[tuple[object, ...]], table: str = "t") -> None:
    root.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(root / "s.db")) as con:
        con.execute(ddl)
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
        con.commit()


def _migrated(root: Path) -> tuple[Plan, Analysis, Path]:
    plan, analysis = prepare(root)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, (report.problems, report.verify)
    return plan, analysis, root / plan.target


def _after(root: Path, change: Callable[[sqlite3.Connection], object]) -> VerifyReport:
    plan = Plan.from_json((root / ".dbfold/plan.json").read_bytes())
    from dbfold.state import load_analysis

    target = root / plan.target
    with closing(sqlite3.connect(target)) as con:
        change(con)
        con.commit()
    return verify(plan, root, target, analysis=load_analysis(root))


def test_an_integer_turned_real_is_caught(tmp_path: Path) -> None:
    # A column without affinity keeps 1 and 1.0 apart; SQLite's = calls them equal.
    root = tmp_path / "p"
    _project(root, "CREATE TABLE t (id INTEGER PRIMARY KEY, v)", [(1, 1), (2, 2.5), (3, "3")])
    _migrated(root)
    report = _after(root, lambda c: c.execute("UPDATE t SET v = 1.0 WHERE id = 1"))
    assert not report.ok
    (bad,) = report.mismatches
    assert bad.first_difference == "key (1,): differs in the target"


def test_a_case_change_under_nocase_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "p"
    rows = [(i, f"Name{i}") for i in range(1, 50)]
    _project(root, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)", rows)
    _migrated(root)
    report = _after(root, lambda c: c.execute("UPDATE t SET name = lower(name) WHERE id = 7"))
    assert not report.ok
    assert report.mismatches[0].first_difference == "key (7,): differs in the target"


def test_a_nocase_key_changed_in_case_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "p"
    rows = [(f"K{i}", i) for i in range(20)]
    _project(root, "CREATE TABLE t (k TEXT COLLATE NOCASE PRIMARY KEY NOT NULL, v INT)", rows)
    _migrated(root)
    report = _after(root, lambda c: c.execute("UPDATE t SET k = 'k3' WHERE k = 'K3'"))
    assert not report.ok


def test_duplicates_traded_in_a_keyless_table_are_caught(tmp_path: Path) -> None:
    # Equal counts and equal sets of distinct rows: only counting each row tells them apart.
    root = tmp_path / "p"
    _project(root, "CREATE TABLE t (a TEXT, b INT)", [("x", 1), ("x", 1), ("y", 2)])
    _migrated(root)

    def trade(c: sqlite3.Connection) -> None:
        rid = c.execute("SELECT min(rowid) FROM t WHERE a = 'x'").fetchone()[0]
        c.execute("UPDATE t SET a = 'y', b = 2 WHERE rowid = ?", (rid,))

    report = _after(root, trade)
    assert not report.ok
    assert report.mismatches[0].source_rows == report.mismatches[0].target_rows == 3


def test_duplicate_source_keys_fall_back_to_an_exact_comparison(tmp_path: Path) -> None:
    # An INT PRIMARY KEY (no rowid alias) may repeat NULL; a lookup by key must not be used.
    root = tmp_path / "p"
    _project(
        root, "CREATE TABLE t (k INT PRIMARY KEY, v TEXT)", [(None, "a"), (None, "b"), (1, "c")]
    )
    _migrated(root)
    report = _after(root, lambda c: c.execute("UPDATE t SET v = 'z' WHERE v = 'b'"))
    assert not report.ok


def test_a_row_only_in_the_target_is_named(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _project(root, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", [(1, "a"), (2, "b")])
    _migrated(root)

    def swap(c: sqlite3.Connection) -> None:
        c.execute("DELETE FROM t WHERE id = 2")
        c.execute("INSERT INTO t VALUES (9, 'b')")

    report = _after(root, swap)
    assert not report.ok
    assert report.mismatches[0].first_difference == "key (2,): missing in the target"


def test_text_numbers_converted_by_the_target_type_pass(tmp_path: Path) -> None:
    # The plan may give a column another affinity than the source's: SQLite's conversion on
    # INSERT is what the copy does, so '7' arriving as 7 is no difference, and 'x' stays 'x'.
    root = tmp_path / "p"
    _project(root, "CREATE TABLE t (id INTEGER PRIMARY KEY, n)", [(1, "7"), (2, "x"), (3, 4)])
    plan, analysis = prepare(root)
    (table,) = plan.tables
    from dataclasses import replace

    cols = tuple(replace(c, type="integer") if c.name == "n" else c for c in table.columns)
    plan = replace(plan, tables=(replace(table, columns=cols),))
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    with closing(sqlite3.connect(root / plan.target)) as con:
        con.execute("UPDATE t SET n = '8' WHERE id = 1")
        con.commit()
    again = verify(plan, root, root / plan.target, analysis=analysis)
    assert not again.ok


def test_a_jsonl_record_changed_in_a_keyless_table_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    lines = [orjson.dumps({"level": "info", "n": i % 3}) for i in range(30)]
    (root / "log.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    plan, _analysis, _target = _migrated(root)
    (table,) = plan.tables
    col = table.sources[0].columns["n"]

    def change(c: sqlite3.Connection) -> None:
        rid = c.execute(f'SELECT min(rowid) FROM "{table.name}" WHERE "{col}" = 0').fetchone()[0]
        c.execute(f'UPDATE "{table.name}" SET "{col}" = 1 WHERE rowid = ?', (rid,))

    report = _after(root, change)
    assert not report.ok


values = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=4),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(values, values), min_size=1, max_size=12), pick=st.integers(0, 11))
def test_any_single_change_is_caught(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[object, object]], pick: int
) -> None:
    root = tmp_path_factory.mktemp("p")
    _project(root, "CREATE TABLE t (a, b)", rows)
    plan, analysis, target = _migrated(root)
    with closing(sqlite3.connect(target)) as con:
        rid = con.execute("SELECT rowid FROM t ORDER BY rowid").fetchall()[pick % len(rows)][0]
        (a,) = con.execute("SELECT a FROM t WHERE rowid = ?", (rid,)).fetchone()
        # A different value of another storage class, or the same class changed.
        new = "changed" if not isinstance(a, str) else a + "!"
        con.execute("UPDATE t SET a = ? WHERE rowid = ?", (new, rid))
        con.commit()
    assert not verify(plan, root, target, analysis=analysis).ok


def test_a_source_key_repeated_after_the_copy_is_caught(tmp_path: Path) -> None:
    # The target's key is unique, so a lookup by key finds one row for two source rows;
    # only a check that the source's keys are distinct keeps that from passing.
    root = tmp_path / "p"
    _project(root, "CREATE TABLE t (k INTEGER NOT NULL UNIQUE, v TEXT)", [(1, "a"), (2, "b")])
    plan, analysis, target = _migrated(root)
    assert plan.tables[0].unique or plan.tables[0].primary_key
    with closing(sqlite3.connect(root / "s.db")) as con:
        con.executescript(
            "CREATE TABLE t2 (k INTEGER NOT NULL, v TEXT);"
            "INSERT INTO t2 (rowid, k, v) SELECT rowid, k, v FROM t;"
            "DROP TABLE t; ALTER TABLE t2 RENAME TO t;"
            "UPDATE t SET k = 1, v = 'a' WHERE k = 2;"
        )
    assert not verify(plan, root, target, analysis=analysis).ok


def test_a_read_made_during_the_copy_is_not_used_once_the_file_grew(tmp_path: Path) -> None:
    # migrate reads the streamed files for verify while it copies; a line appended after
    # that read (and after the copy) is pending, not a difference.
    from dbfold.migrate.verify import Prefetch
    from dbfold.state import load_analysis

    root = tmp_path / "p"
    root.mkdir()
    log = root / "log.jsonl"
    log.write_bytes(b"".join(orjson.dumps({"n": i, "s": str(i)}) + b"\n" for i in range(40)))
    plan, analysis, target = _migrated(root)
    early = Prefetch(plan, load_analysis(root), root)
    try:
        early.thread.join()
        with open(log, "ab") as f:
            f.write(orjson.dumps({"n": 99, "s": "late"}) + b"\n")
        late = Prefetch(plan, load_analysis(root), root)  # read after the append
        try:
            for pre in (early, late):
                report = verify(plan, root, target, analysis=analysis, prefetch=pre)
                assert report.ok, report.mismatches
                assert report.checks[0].pending_rows == 1
        finally:
            late.close()
    finally:
        early.close()


def test_threads_reading_one_idle_wal_source_leave_nothing_beside_it(tmp_path: Path) -> None:
    # verify checks two sources at a time; two tables of one idle WAL store must not meet
    # (one thread's plain copy holds the file, the other would open it in place).
    import threading

    from dbfold.sqlitefiles import readable

    src = tmp_path / "idle.db"
    with closing(sqlite3.connect(src)) as con:
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x" * 200) for i in range(30_000)))
        con.commit()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert before == ["idle.db"]
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(3):
                with readable(src) as view, closing(sqlite3.connect(":memory:")) as mem:
                    mem.execute("ATTACH DATABASE ? AS src", (view.uri,))
                    assert mem.execute("SELECT count(*) FROM src.t").fetchone() == (30_000,)
                    mem.execute("DETACH DATABASE src")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(p.name for p in tmp_path.iterdir()) == before

"""A column named rowid, _rowid_ or oid hides SQLite's rowid: every row still arrives."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from conftest import prepare
from dbfold.migrate import migrate

CASES = {
    "rowid column with NULL and text": (
        "CREATE TABLE t (a, rowid)",
        [(1, None), (2, 3), (3, "x"), (4, "")],
    ),
    "ROWID in capitals only": ('CREATE TABLE t ("ROWID")', [(None,), (5,)]),
    "all three names taken": (
        "CREATE TABLE t (rowid, _rowid_, oid)",
        [(1, 2, 3), (None, None, None)],
    ),
    "lowest and highest rowids": (
        "CREATE TABLE t (a, rowid)",
        [(1, -(2**63)), (2, 2**63 - 1)],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_row_arrives(tmp_path: Path, case: str) -> None:
    ddl, rows = CASES[case]
    root = tmp_path / "p"
    root.mkdir()
    with closing(sqlite3.connect(root / "hidden.db")) as con:
        con.execute(ddl)
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO t VALUES ({marks})", rows)
        if case == "lowest and highest rowids":  # the real rowids at both ends of int64
            con.execute("UPDATE t SET _rowid_ = ? WHERE a = 1", (-(2**63),))
            con.execute("UPDATE t SET _rowid_ = ? WHERE a = 2", (2**63 - 1,))
        con.commit()
    plan, analysis = prepare(root)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.problems
    (table,) = plan.tables
    cols = ", ".join(f'"{c}"' for c in (p for p, _ in table.sources[0].columns.items()))
    with closing(sqlite3.connect(root / plan.target)) as con:
        target_cols = ", ".join(
            f'"{table.sources[0].columns[p]}"' for p in table.sources[0].columns
        )
        got = sorted(map(repr, con.execute(f'SELECT {target_cols} FROM "{table.name}"')))
    with closing(sqlite3.connect(root / "hidden.db")) as con:
        want = sorted(map(repr, con.execute(f"SELECT {cols} FROM t")))
    assert got == want
    again = migrate(plan, analysis, root, execute=True)
    assert again.verify is not None and again.verify.ok
    # Nothing new to copy; with no rowid to keep a watermark by, the table is copied again.
    assert again.rows == (len(rows) if case == "all three names taken" else 0)

"""migrate reads a CSV file's first row as analyze did: a header, or the first record."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from conftest import prepare
from dbfold.migrate import migrate


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("1,,3\n4,5,6\n7,8,9\n", [(1, None, 3), (4, 5, 6), (7, 8, 9)]),  # no header, a blank
        ("id,name\n1,x\n2,y\n", [(1, "x"), (2, "y")]),
        ("a,,c\n1,2,3\n", [(1, 2, 3)]),  # a header with a blank name
    ],
)
def test_first_row_read_as_analyze_read_it(
    tmp_path: Path, text: str, rows: list[tuple[object, ...]]
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "t.csv").write_text(text, encoding="utf-8")
    plan, analysis = prepare(root)
    assert analysis.stores[0].rows == len(rows)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok
    (table,) = plan.tables
    cols = ", ".join(f'"{c}"' for c in table.sources[0].columns.values())
    with closing(sqlite3.connect(root / plan.target)) as con:
        assert con.execute(f'SELECT {cols} FROM "{table.name}"').fetchall() == rows

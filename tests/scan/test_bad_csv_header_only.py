"""Issue 11: a CSV file of a header row alone is a table of those columns with no rows.

Through the command line, as a user runs it: analyze names the columns, design makes the
table, migrate creates it empty and verify passes. A lone row of numbers is a record, not a
header (the sniffer calls any lone row a header).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from cli_support import run
from dbfold.scan import analyze


@pytest.mark.parametrize(
    "data",
    [b"id,name\n", b"id,name", b"\xef\xbb\xbfid,name\r\n", b"id,\n", b"id\tname\n"],
    ids=["lf", "no-newline", "bom-crlf", "blank-cell", "tabs"],
)
def test_header_only_csv_migrates_as_an_empty_table(tmp_path: Path, data: bytes) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "people.csv").write_bytes(data)
    expected = ["id", "col_2"] if data == b"id,\n" else ["id", "name"]
    done = run(root, "analyze")
    assert done.returncode == 0, done.stdout + done.stderr
    saved = orjson.loads((root / ".dbfold" / "analysis.json").read_bytes())
    (store,) = saved["stores"]
    (table,) = store["tables"]
    assert table["rows"] == 0
    assert [c["name"] for c in table["columns"]] == expected
    assert not store["problems"]
    done = run(root, "design")
    assert done.returncode == 0, done.stdout + done.stderr
    plan = orjson.loads((root / ".dbfold" / "plan.json").read_bytes())
    assert not plan["excluded"], plan["excluded"]
    (target,) = plan["tables"]
    assert [c["name"] for c in target["columns"]] == expected
    done = run(root, "migrate", "--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verification passed" in done.stdout
    assert "excluded" not in done.stdout + done.stderr
    with closing(sqlite3.connect(root / plan["target"])) as con:
        cur = con.execute(f'SELECT * FROM "{target["name"]}"')
        assert [d[0] for d in cur.description] == expected
        assert cur.fetchall() == []
    done = run(root, "verify")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_lone_row_of_numbers_is_a_record(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "t.csv").write_bytes(b"1,2.5,true\n")
    (table,) = analyze(root).store("t.csv").tables
    assert table.rows == 1
    assert [c.name for c in table.columns] == ["col_1", "col_2", "col_3"]

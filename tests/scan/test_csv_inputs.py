"""CSV inputs that trip readers (issue 11): what analyze reports, and that migrate keeps it.

Each case is a file and what analyze must say of it (rows, columns, problems); migrate +
verify must then bring every row, or say why in the same words analyze used.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from dbfold.design import design
from dbfold.migrate import migrate, verify
from dbfold.scan import analyze

#: name: (file bytes, column names, rows in the target, words of analyze's warning or None)
CASES: dict[str, tuple[bytes, list[str], list[tuple[object, ...]], str | None]] = {
    "quoted_newlines": (
        b'id,note\n1,"a\nb"\n2,"c\r\nd"\n3,plain\n',
        ["id", "note"],
        [(1, "a\nb"), (2, "c\r\nd"), (3, "plain")],
        None,
    ),
    "quoted_newline_in_header": (
        b'id,"two\nlines"\n1,2\n',
        ["id", "two\nlines"],
        [(1, 2)],
        None,
    ),
    "utf8_bom": (b"\xef\xbb\xbfid,name\n1,x\n2,y\n", ["id", "name"], [(1, "x"), (2, "y")], None),
    "utf8_bom_crlf_quoted": (
        b'\xef\xbb\xbfid,name\r\n1,x\r\n2,"y\r\nz"\r\n',
        ["id", "name"],
        [(1, "x"), (2, "y\r\nz")],
        None,
    ),
    "ragged_more_cells": (
        b"id,name\n1,x\n2,y,extra\n3,z\n",
        ["id", "name", "col_3"],
        [(1, "x", None), (2, "y", "extra"), (3, "z", None)],
        "2 rows have a different number of fields than the header (lines 3, 4)",
    ),
    "ragged_first_row_wider": (
        b"id,name\n1,x,extra,more\n2,y\n",
        ["id", "name", "col_3", "col_4"],
        [(1, "x", "extra", "more"), (2, "y", None, None)],
        "2 rows have a different number of fields than the header (lines 2, 3)",
    ),
    "ragged_fewer_cells": (
        b"id,name,age\n1,x,3\n2,y\n3,z,5\n",
        ["id", "name", "age"],
        [(1, "x", 3), (2, "y", None), (3, "z", 5)],
        "1 rows have a different number of fields than the header (lines 3)",
    ),
    # Mixed delimiters are not migrated: tests/scan/test_bad_csv_delimiters.py.
    "tabs_in_a_csv": (b"id\tname\n1\tx\n2\ty\n", ["id", "name"], [(1, "x"), (2, "y")], None),
    "empty_header_cell": (
        b"id,,name\n1,a,x\n2,b,y\n",
        ["id", "col_2", "name"],
        [(1, "a", "x"), (2, "b", "y")],
        None,
    ),
    "empty_last_header_cell": (
        b"id,name,\n1,x,\n2,y,\n",
        ["id", "name", "col_3"],
        [(1, "x", None), (2, "y", None)],
        None,
    ),
    "duplicate_header_cells": (b"id,id,ID\n1,2,3\n", ["id", "id_2", "ID_3"], [(1, 2, 3)], None),
    "blank_lines": (b"id,name\n\n1,x\n\n\n2,y\n", ["id", "name"], [(1, "x"), (2, "y")], None),
    "nul_in_a_cell": (b"id,name\n1,a\x00b\n", ["id", "name"], [(1, "a\x00b")], None),
    "bad_utf8": (
        b"id,name\n1,\xff\xfe\n",
        ["id", "name"],
        [(1, "\ufffd\ufffd")],
        "not valid UTF-8; bad bytes were read as U+FFFD",
    ),
}


def _target(db: Path, table: str) -> tuple[list[str], list[tuple[object, ...]]]:
    con = sqlite3.connect(db)
    try:
        cur = con.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_csv_input_arrives(case: str, tree: Callable[[dict[str, bytes | str]], Path]) -> None:
    data, columns, rows, warning = CASES[case]
    root = tree({"t.csv": data})
    analysis = analyze(root)
    store = analysis.store("t.csv")
    assert store.encoding == ("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    (table,) = store.tables
    assert table.rows == len(rows)
    assert [c.name for c in table.columns] == [c.replace("ID_3", "ID") for c in columns]
    messages = [p.message for p in analysis.all_problems]
    assert all(p.severity == "warning" for p in analysis.all_problems), messages
    if warning is None:
        assert not messages
    else:
        assert len(messages) == 1 and warning in messages[0], messages
    plan = design(analysis)
    assert not plan.excluded
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    assert not any(p.severity == "error" for p in report.problems), report.problems
    (check,) = report.verify.checks
    assert check.source_rows == check.target_rows == len(rows)
    (target_table,) = plan.tables
    assert _target(root / plan.target, target_table.name) == (columns, rows)
    again = verify(plan, root, root / plan.target, analysis=analysis)
    assert again.ok and len(again.checks) == 1


# A header alone is a table of its columns: tests/scan/test_bad_csv_header_only.py.
@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b""])
def test_header_only_csv_is_excluded_with_the_same_reason(
    data: bytes, tree: Callable[[dict[str, bytes | str]], Path]
) -> None:
    """No rows: nothing to lose; design excludes it and migrate says so, in design's words."""
    root = tree({"t.csv": data})
    analysis = analyze(root)
    store = analysis.store("t.csv")
    assert store.rows == 0 and not analysis.all_problems
    plan = design(analysis)
    (exclusion,) = plan.excluded
    assert exclusion.store == "t.csv"
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok
    assert not report.verify.checks
    (problem,) = report.problems
    assert problem.path == "t.csv" and problem.severity == "warning"
    assert exclusion.reason in problem.message

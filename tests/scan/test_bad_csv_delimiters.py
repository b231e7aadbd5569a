"""Issue 11: a CSV file whose delimiter changes from one line to another.

analyze says so in one line naming the file, the lines and the delimiters, and what to do;
the verdict is that the file is not migrated (its rows would land split wrong). design
excludes it with that reason and migrate says it; migrate's reader, meeting such a file that
the plan did not exclude (it changed after the analysis), gives the same words. The other
stores of the project migrate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.scan import analyze

NOT_MIGRATED = "the file will not be migrated"

#: name: (file bytes, words the one problem must hold)
CASES: dict[str, tuple[bytes, list[str]]] = {
    "comma_then_semicolon_and_tab": (
        b"a,b,c\n1,2,3\n4;5;6\n7\t8\t9\n",
        ["the file uses ','", "line 3 uses ';'", "line 4 uses tab", "(2 lines in all)"],
    ),
    "semicolon_file_with_a_comma_line": (
        b"id;name\n1;x\n2,y\n3;z\n",
        ["the file uses ';'", "line 3 uses ','", "(1 line in all)"],
    ),
    "header_in_another_delimiter": (
        b"a;b;c\n1,2,3\n4,5,6\n",
        ["the file uses ';'", "line 2 uses ','", "line 3 uses ','"],
    ),
    "tsv_with_pipes": (
        b"id\tname\n1\tx\n2|y\n",
        ["the file uses tab", "line 3 uses '|'"],
    ),
    "many_lines": (
        b"a,b\n" + b"".join(b"%d;x\n" % i for i in range(10)),
        ["line 2 uses ';', line 3 uses ';', line 4 uses ';', and 7 more", "(10 lines in all)"],
    ),
}


def _good(root: Path) -> None:
    with closing(sqlite3.connect(root / "good.db")) as con:
        con.executescript("CREATE TABLE g(x); INSERT INTO g VALUES (1), (2);")
        con.commit()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_changing_delimiter_is_one_verdict(
    case: str, tree: Callable[[dict[str, bytes | str]], Path]
) -> None:
    data, words = CASES[case]
    ext = "tsv" if case.startswith("tsv") else "csv"
    root = tree({f"data/t.{ext}": data})
    _good(root)
    analysis = analyze(root)
    (problem,) = analysis.all_problems
    message = problem.message
    assert problem.path == f"data/t.{ext}" and problem.severity == "error"
    assert message.startswith(f"data/t.{ext}: the delimiter changes: ") and "\n" not in message
    for w in words:
        assert w in message, message
    assert NOT_MIGRATED in message and "re-save it with" in message
    assert "different number of fields" not in message
    plan = design(analysis)
    (exclusion,) = plan.excluded
    assert exclusion.store == f"data/t.{ext}" and message in exclusion.reason
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok
    said = [p.message for p in report.problems if p.path == f"data/t.{ext}"]
    assert len(said) == 1 and message in said[0], report.problems
    with closing(sqlite3.connect(root / plan.target)) as con:
        assert con.execute('SELECT count(*) FROM "g"').fetchone() == (2,)
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert "t" not in names


def test_migrate_reader_gives_analyze_verdict_on_a_file_changed_since(
    tree: Callable[[dict[str, bytes | str]], Path],
) -> None:
    root = tree({"t.csv": b"a,b,c\n1,2,3\n4,5,6\n"})
    _good(root)
    before = analyze(root)
    plan = design(before)
    assert not plan.excluded
    (root / "t.csv").write_bytes(b"a,b,c\n1,2,3\n4;5;6\n7,8,9\n1|2|3\n")
    (now,) = analyze(root).all_problems  # what analyze says of the file as it is now
    report = migrate(plan, before, root, execute=True)
    said = [p for p in report.problems if p.path == "t.csv" and p.severity == "error"]
    assert [p.message for p in said] == [now.message]
    assert {r.store: r.status for r in report.sources} == {"good.db": "copied", "t.csv": "skipped"}


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"a,b,c\n1,2,3\nhello; world\n", 2),  # a short row with a ';': still ragged
        (b'a,b\n1,"x;y"\n2,"p\tq"\n', 2),  # other delimiters inside quoted cells
        (b"a;b\n1;2,5\n3;4,5\n", 2),  # decimal commas in a ';' file
    ],
)
def test_other_delimiters_inside_cells_are_not_a_change(
    data: bytes, rows: int, tree: Callable[[dict[str, bytes | str]], Path]
) -> None:
    root = tree({"t.csv": data})
    analysis = analyze(root)
    assert all("delimiter changes" not in p.message for p in analysis.all_problems)
    assert all(p.severity == "warning" for p in analysis.all_problems)
    assert analysis.store("t.csv").rows == rows
    assert not design(analysis).excluded

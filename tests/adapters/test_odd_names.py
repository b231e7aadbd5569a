"""Every name SQLite accepts (all but one with NUL) works through the adapters, "" included."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from dbfold.adapters import connect
from dbfold.design import design
from dbfold.errors import RuntimeDatabaseError
from dbfold.migrate import migrate
from dbfold.runtime import quote_ident
from dbfold.scan import analyze


@pytest.mark.parametrize("name", ["", " ", '""', "A\"b'c", "--", "\t", "%s%s", "select"])
def test_a_legacy_program_reads_and_writes_a_table_of_any_name(tmp_path: Path, name: str) -> None:
    root = tmp_path / "p"
    root.mkdir()
    q = '"' + name.replace('"', '""') + '"'
    with closing(sqlite3.connect(root / "odd.db")) as con:
        con.execute(f"CREATE TABLE {q} (id INTEGER PRIMARY KEY, {q} TEXT)")
        con.execute(f"INSERT INTO {q} VALUES (1, 'x')")
        con.commit()
    analysis = analyze(root)
    plan = design(analysis)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.problems
    target = root / plan.target
    legacy = connect("odd.db", plan, target, root=root, analysis=analysis)
    try:
        assert legacy.execute(f"SELECT id, {q} FROM {q}").fetchall() == [(1, "x")]
        legacy.execute(f"INSERT INTO {q} ({q}) VALUES (?)", ("y",))
        legacy.commit()
        assert legacy.execute(f"SELECT {q} FROM {q} ORDER BY id").fetchall() == [("x",), ("y",)]
    finally:
        legacy.close()


def test_only_a_nul_is_refused_in_an_identifier() -> None:
    assert quote_ident("") == '""'
    with pytest.raises(RuntimeDatabaseError, match="NUL"):
        quote_ident("a\x00b")

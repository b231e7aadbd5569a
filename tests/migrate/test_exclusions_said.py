"""What the plan leaves out is said by every migrate run, not only written in plan.json."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from conftest import prepare
from dbfold.migrate import migrate


def test_dry_run_and_run_name_each_excluded_store(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "broken.json").write_text('[{"a": 1}] and more', encoding="utf-8")
    with closing(sqlite3.connect(root / "good.db")) as con:
        con.execute("CREATE TABLE g (id INTEGER PRIMARY KEY, v TEXT)")
        con.execute("INSERT INTO g VALUES (1, 'x')")
        con.commit()
    plan, analysis = prepare(root)
    assert [e.store for e in plan.excluded] == ["broken.json"]
    for execute in (False, True):
        report = migrate(plan, analysis, root, execute=execute)
        said = [p.message for p in report.problems if p.path == "broken.json"]
        assert any("excluded in .dbfold/plan.json and not migrated" in m for m in said), said
        assert all("\n" not in m for m in said)
    assert report.verify is not None and report.verify.ok

"""Issue 11: a copy that breaks a UNIQUE or PRIMARY KEY constraint says why, once.

The problem names the source file and table, the target table, the key columns, up to three
duplicate key values and what to change in .dbfold/plan.json; the dry run says the same
before anything runs. Every problem of a run is reported once.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from dbfold.design import design
from dbfold.migrate import MigrationReport, migrate
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic


def _store(path: Path, rows: list[tuple[Any, ...]], table: str = "users") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as con:
        con.execute(f"CREATE TABLE {table}(id INTEGER PRIMARY KEY, email TEXT)")
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)
        con.commit()


def _prepare(root: Path) -> tuple[Plan, Analysis]:
    analysis = analyze(root)
    save_analysis(analysis, root)
    return design(analysis), analysis


def _edited(root: Path, plan: Plan, edit: Any) -> Plan:
    raw = plan.to_dict()
    edit(raw)
    plan = Plan.from_dict(raw)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return plan


def _errors(report: MigrationReport) -> list[str]:
    return [p.message for p in report.problems if p.severity == "error"]


def _dry(report: MigrationReport, table: str) -> list[str]:
    return list(next(t.problems for t in report.tables if t.name == table))


def _merged(root: Path) -> tuple[Plan, Analysis]:
    _store(root / "one.db", [(1, "a@x"), (2, "b@x"), (3, "c@x"), (4, "d@x")])
    _store(root / "two.db", [(1, "e@x"), (2, "f@x"), (3, "g@x"), (4, "h@x"), (9, "i@x")])
    plan, analysis = _prepare(root)
    (users,) = plan.tables
    assert len(users.sources) == 2 and users.sources[0].discriminator
    return plan, analysis


def test_same_discriminator_value_names_sources_keys_and_fix(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    plan, analysis = _merged(root)

    def same_value(raw: dict[str, Any]) -> None:
        for s in raw["tables"][0]["sources"]:
            s["value"] = "legacy"

    plan = _edited(root, plan, same_value)
    dry = _dry(migrate(plan, analysis, root), "users")
    (said,) = [p for p in dry if "discriminator" in p]
    report = migrate(plan, analysis, root, execute=True)
    (error,) = _errors(report)
    for part in ("two.db:users", "one.db:users", "table users", "(id)", "source = 'legacy'"):
        assert part in error
    assert "e.g. 1, 2, 3:" in error  # three of the four duplicate keys
    assert "give the sources different discriminator values in .dbfold/plan.json" in error
    assert "UNIQUE constraint failed" not in error
    # the dry run said it first, in the same words
    assert said.split("; the copy of")[0] in error
    skipped = {(s.store, s.status) for s in report.sources}
    assert skipped == {("one.db", "copied"), ("two.db", "skipped")}


def test_duplicates_in_a_legacy_column_made_key(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    rows: list[tuple[Any, ...]] = [(1, "a@x"), (2, "a@x"), (3, "b@x"), (4, "c@x"), (5, "c@x")]
    rows += [(6, "d@x"), (7, "d@x")]
    rows += [(8, "e@x"), (9, "e@x"), (10, None), (11, None)]
    _store(root / "app.db", rows)
    plan, analysis = _prepare(root)

    def email_key(raw: dict[str, Any]) -> None:
        (t,) = raw["tables"]
        t["primary_key"] = ["email"]
        for c in t["columns"]:
            c["primary_key"] = c["name"] == "email"

    plan = _edited(root, plan, email_key)
    dry = _dry(migrate(plan, analysis, root), "users")
    (said,) = [p for p in dry if "duplicate" in p]
    report = migrate(plan, analysis, root, execute=True)
    (error,) = _errors(report)
    for part in ("app.db", "app.db:users", "table users", "(email)"):
        assert part in error
    # up to three of the duplicate values, never the NULLs (they do not collide)
    assert "'a@x', 'c@x', 'd@x'" in error and "'e@x'" not in error and "None" not in error
    assert "drop the key on email of users in .dbfold/plan.json" in error
    assert "UNIQUE constraint failed" not in error
    assert said.split("; the copy of")[0] in error


def test_keys_in_two_sources_when_the_key_lacks_the_discriminator(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    plan, analysis = _merged(root)

    def id_key(raw: dict[str, Any]) -> None:
        (t,) = raw["tables"]
        t["primary_key"] = ["id"]
        for c in t["columns"]:
            c["primary_key"] = c["name"] == "id"

    plan = _edited(root, plan, id_key)
    dry = _dry(migrate(plan, analysis, root), "users")
    (said,) = [p for p in dry if "occur in both" in p]
    report = migrate(plan, analysis, root, execute=True)
    (error,) = _errors(report)
    for part in ("two.db:users", "one.db:users", "table users", "(id)", "1, 2, 3"):
        assert part in error
    assert "add source to the primary key of users in .dbfold/plan.json" in error
    assert said.split("; the copy of")[0] in error


def test_a_problem_of_an_unreadable_store_is_reported_once(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _store(root / "app.db", [(1, "a@x")], "users")
    with closing(sqlite3.connect(root / "app.db")) as con:
        con.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, email TEXT)")
        con.execute("INSERT INTO orders VALUES (1, 'a@x')")
        con.commit()
    plan, analysis = _prepare(root)
    assert len(plan.tables) == 2
    (root / "app.db").write_bytes(b"not sqlite at all " * 512)
    report = migrate(plan, analysis, root, execute=True)
    messages = [p.message for p in report.problems]
    assert messages and len(messages) == len(set(messages))
    assert [s.status for s in report.sources] == ["skipped", "skipped"]


def test_a_missing_store_is_reported_once(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _store(root / "app.db", [(1, "a@x")], "users")
    with closing(sqlite3.connect(root / "app.db")) as con:
        con.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, email TEXT)")
        con.commit()
    plan, analysis = _prepare(root)
    (root / "app.db").unlink()
    report = migrate(plan, analysis, root, execute=True)
    messages = [p.message for p in report.problems if "app.db" in p.message]
    assert len(messages) == 1 and "cannot be read" in messages[0]

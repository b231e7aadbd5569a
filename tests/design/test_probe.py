"""probe_suggestions: likely foreign keys checked against the values, sources only read."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from design_sample import Sample

from dbfold.design import design, probe_suggestions
from dbfold.plan import Plan
from dbfold.scan import analyze


def _digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (names included, so a new -shm shows) and its sha256."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dbfold" not in p.parts
    }


def _db(path: Path, script: str, *, wal: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.executescript(script)
    con.commit()
    con.close()


def _project(tmp_path: Path, orders: str, *, wal: bool = False) -> Path:
    root = tmp_path / "proj"
    _db(
        root / "shop.db",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO customers VALUES (1, 'a'), (2, 'b'), (3, 'c');"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total REAL);" + orders,
        wal=wal,
    )
    return root


def _probed(root: Path) -> Plan:
    analysis = analyze(root)
    plan = design(analysis)
    assert [s.id for s in plan.suggestions] == ["fk:orders.customer_id->customers.id"]
    before = _digest(root)
    probed = probe_suggestions(plan, analysis, root)
    assert _digest(root) == before  # not a byte written, no file created
    assert probe_suggestions(probed, analysis, root) == probed  # idempotent
    return probed


def test_all_values_match(tmp_path: Path) -> None:
    root = _project(tmp_path, "INSERT INTO orders VALUES (1, 1, 9), (2, 3, 9), (3, NULL, 9);")
    (s,) = _probed(root).suggestions
    assert s.text.endswith("(values: all 2 values match)")


def test_some_values_have_no_match(tmp_path: Path) -> None:
    root = _project(tmp_path, "INSERT INTO orders VALUES (1, 1, 9), (2, 7, 9), (3, 8, 9);")
    (s,) = _probed(root).suggestions
    assert s.text.endswith("(values: 2 of 3 values have no match)")


def test_no_value_matches_drops_the_suggestion(tmp_path: Path) -> None:
    root = _project(tmp_path, "INSERT INTO orders VALUES (1, 70, 9), (2, 80, 9);")
    plan = _probed(root)
    assert plan.suggestions == ()
    assert any(d.rule == "probe" and "none of the 2 values" in d.text for d in plan.decisions)


def test_accepted_suggestion_is_annotated_not_dropped(tmp_path: Path) -> None:
    from dataclasses import replace

    root = _project(tmp_path, "INSERT INTO orders VALUES (1, 70, 9);")
    analysis = analyze(root)
    plan = design(analysis)
    plan = replace(plan, suggestions=tuple(replace(s, accepted=True) for s in plan.suggestions))
    (s,) = probe_suggestions(plan, analysis, root).suggestions
    assert s.accepted and s.text.endswith("(values: 1 of 1 values have no match)")


def test_wal_mode_database_leaves_nothing_beside_it(tmp_path: Path) -> None:
    # Checkpointed WAL-mode database: a plain read-only open would create -wal and -shm.
    root = _project(tmp_path, "INSERT INTO orders VALUES (1, 2, 9);", wal=True)
    assert not (root / "shop.db-wal").exists()
    (s,) = _probed(root).suggestions
    assert s.text.endswith("(values: all 1 values match)")
    assert sorted(p.name for p in root.iterdir() if p.name != ".dbfold") == ["shop.db"]


def test_across_two_stores(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _db(
        root / "a.db",
        "CREATE TABLE customers (id INTEGER PRIMARY KEY); INSERT INTO customers VALUES (1);",
    )
    _db(
        root / "b.db",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER);"
        "INSERT INTO orders VALUES (1, 1), (2, 2);",
    )
    (s,) = _probed(root).suggestions
    assert s.text.endswith("(values: 1 of 2 values have no match)")


def test_sample_project_is_only_read(sample: Sample) -> None:
    plan = design(sample.analysis)
    before = _digest(sample.root)
    probed = probe_suggestions(plan, sample.analysis, sample.root)
    assert _digest(sample.root) == before
    texts = {s.id: s.text for s in probed.suggestions}
    # tracking.db has a -wal with pending frames: read through a private copy.
    assert texts["fk:tracking_events.action_id->actions.id"].endswith("values match)")
    # articles is a JSON store: not probed, left as it was.
    plain = {s.id: s.text for s in plan.suggestions}
    assert (
        texts["fk:scores.article_id->articles.row_id"]
        == plain["fk:scores.article_id->articles.row_id"]
    )

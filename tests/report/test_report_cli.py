"""`dbfold report`, and the refresh by `migrate --execute` and `verify`, as a user runs them."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from report_support import parse, prepare, structure

from cli_support import run
from dbfold.adapters import connect
from dbfold.demo import build_sample_project
from dbfold.plan import Plan
from dbfold.report import report_path, write_report


@pytest.fixture(scope="module")
def designed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-cli") / "proj"
    build_sample_project(root, scale=0.01)
    prepare(root)
    return root


@pytest.fixture
def project(designed: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(designed, root)
    return root


def test_report_before_any_migration(project: Path) -> None:
    done = run(project, "report")
    assert done.returncode == 0, done.stderr
    html = report_path(project)
    assert f"Wrote {html.relative_to(project)}" in done.stdout or str(html) in done.stdout
    text = html.read_text(encoding="utf-8")
    got = structure(text)
    plan = Plan.from_json((project / ".dbfold/plan.json").read_bytes())
    assert got["diagram"]["tables"] == len(plan.tables)
    assert got["checks"] == [] and got["timeline"] == []
    assert "not built yet" in text and "Not verified yet" in text
    assert not (project / "data/unified.db").exists()  # a report never creates the target


def test_report_without_a_plan_says_what_to_do(tmp_path: Path) -> None:
    done = run(tmp_path, "report")
    assert done.returncode == 2
    assert "dbfold design" in done.stderr


def test_migrate_and_verify_refresh_the_report(project: Path) -> None:
    done = run(project, "migrate", "--execute")
    assert done.returncode in (0, 1), done.stderr
    html = report_path(project)
    assert "Report: " in done.stdout and "report.html" in done.stdout
    first = parse(html.read_text(encoding="utf-8"))
    assert first.events[0] == "cutover" and "verify" in first.events
    assert first.figures["verify-status"] == "1"
    # legacy code writes through an adapter: the report's timeline shows it after verify
    plan = Plan.from_json((project / ".dbfold/plan.json").read_bytes())
    with closing(connect("data/queue.db", plan, root=project)) as con:
        con.execute("UPDATE jobs SET status = 'done' WHERE id = 1")
        con.commit()
    with (project / "logs/events.jsonl").open("a") as log:  # the legacy code logs on
        log.write('{"type": "late", "ts": 1}\n')
    done = run(project, "verify")
    assert "Report: " in done.stdout, done.stdout + done.stderr
    assert list((project / ".dbfold/reports").glob("*-verify.json"))
    text = html.read_text(encoding="utf-8")
    second = parse(text)
    assert "adapter" in second.events and "pending" in second.events
    assert "jobs: 1 writes, 1 keys (1 update)" in text
    assert "logs/events.jsonl:events → logs_events: new rows beyond" in text
    assert "(1 row)" in text
    # `dbfold report` alone reads the same state back from .dbfold/ and the target
    again = run(project, "report")
    assert again.returncode == 0
    assert structure(html.read_text(encoding="utf-8")) == structure(text)


def test_hostile_names_are_escaped(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    with closing(sqlite3.connect(root / "app.db")) as con:
        con.execute(
            'CREATE TABLE "<script>alert(1)</script>" (id INTEGER PRIMARY KEY,'
            ' """><img src=x onerror=alert(2)>" TEXT)'
        )
        con.execute("INSERT INTO \"<script>alert(1)</script>\" VALUES (1, 'a')")
        con.commit()
    plan, analysis = prepare(root)
    html = write_report(root, plan=plan, analysis=analysis).read_text(encoding="utf-8")
    p = parse(html)
    assert p.external == [] and p.scripts == 1
    assert "<script>alert" not in html and "<img" not in html
    assert len(p.nodes) == 1

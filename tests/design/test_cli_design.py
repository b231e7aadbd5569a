"""``dbfold analyze`` + ``dbfold design`` as a user drives them: files, edits, --check, errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from dbfold.cli import cli
from dbfold.demo import build_sample_project

SUMMARY = re.compile(r"Unified schema with (\d+) tables, (\d+) columns")


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.01, seed=7)
    done = _run("analyze", str(root))
    assert done.exit_code in (0, 1), done.output  # 1: the sample has problems to report
    return root


def _plan(root: Path) -> dict[str, Any]:
    return dict(orjson.loads((root / ".dbfold" / "plan.json").read_bytes()))


def _save(root: Path, raw: dict[str, Any]) -> None:
    (root / ".dbfold" / "plan.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))


def _one_line_error(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return lines[0]


def test_design_writes_files_and_prints_summary(project: Path) -> None:
    done = _run("design", str(project))
    assert done.exit_code == 0, done.output
    for rel in (".dbfold/plan.json", "unified.sql", ".dbfold/REPORT.md"):
        assert (project / rel).is_file(), rel
    match = SUMMARY.search(done.stdout)
    assert match, done.stdout
    raw = _plan(project)
    assert int(match[1]) == len(raw["tables"])
    assert int(match[2]) == sum(len(t["columns"]) for t in raw["tables"])
    assert "```mermaid" in (project / ".dbfold" / "REPORT.md").read_text(encoding="utf-8")


def test_hand_edit_flows_through_check_and_survives_redesign(project: Path) -> None:
    assert _run("design", str(project)).exit_code == 0
    raw = _plan(project)
    table = next(t for t in raw["tables"] if t["name"] == "metrics_events")
    table["name"] = "metric alerts"
    (suggestion,) = [s for s in raw["suggestions"] if s["table"] == "tracking_events"]
    suggestion["accepted"] = True
    _save(project, raw)

    done = _run("design", str(project), "--check")
    assert done.exit_code == 0, done.output
    sql = (project / "unified.sql").read_text(encoding="utf-8")
    assert 'CREATE TABLE "metric alerts"' in sql
    assert 'CREATE TABLE "metrics_events"' not in sql
    assert 'FOREIGN KEY ("action_id") REFERENCES "actions" ("id")' in sql
    assert "metric_alerts {" in (project / ".dbfold" / "REPORT.md").read_text(encoding="utf-8")

    # A fresh design over the edited plan keeps the rename and the accepted key.
    done = _run("design", str(project))
    assert done.exit_code == 0, done.output
    again = _plan(project)
    assert "metric alerts" in [t["name"] for t in again["tables"]]
    assert "metrics_events" not in [t["name"] for t in again["tables"]]
    accepted = [s for s in again["suggestions"] if s["accepted"]]
    assert [s["table"] for s in accepted] == ["tracking_events"]
    sql = (project / "unified.sql").read_text(encoding="utf-8")
    assert 'CREATE TABLE "metric alerts"' in sql
    assert 'FOREIGN KEY ("action_id") REFERENCES "actions" ("id")' in sql


def test_bad_edit_points_at_its_json_path(project: Path) -> None:
    assert _run("design", str(project)).exit_code == 0
    raw = _plan(project)
    i, table = next((i, t) for i, t in enumerate(raw["tables"]) if t["name"] == "users")
    table["columns"].append(dict(table["columns"][1]))
    _save(project, raw)
    before = (project / "unified.sql").read_bytes()

    done = _run("design", str(project), "--check")
    assert done.exit_code == 2
    line = _one_line_error(done)
    n = len(table["columns"]) - 1
    assert f"$.tables[{i}].columns[{n}].name" in line, line
    assert "duplicate column" in line
    assert (project / "unified.sql").read_bytes() == before  # nothing re-rendered


def test_design_without_analysis_says_what_to_run(tmp_path: Path) -> None:
    done = _run("design", str(tmp_path))
    assert done.exit_code == 2
    assert "run `dbfold analyze` first" in _one_line_error(done)
    assert not (tmp_path / "unified.sql").exists()


def test_autoincrement_edits_survive_redesign(tmp_path: Path) -> None:
    import sqlite3

    root = tmp_path / "proj"
    root.mkdir()
    con = sqlite3.connect(root / "app.db")
    con.executescript(
        "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, x TEXT);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, y TEXT);"
        "INSERT INTO a (x) VALUES ('1'); INSERT INTO b (y) VALUES ('2');"
    )
    con.close()
    assert _run("analyze", str(root)).exit_code == 0
    assert _run("design", str(root)).exit_code == 0
    raw = _plan(root)
    tables = {t["name"]: t for t in raw["tables"]}
    assert (tables["a"]["autoincrement"], tables["b"]["autoincrement"]) == (True, False)
    tables["a"]["autoincrement"], tables["b"]["autoincrement"] = False, True
    _save(root, raw)
    assert _run("design", str(root), "--check").exit_code == 0
    done = _run("design", str(root))  # a fresh design over the edited plan
    assert done.exit_code == 0, done.output
    again = {t["name"]: t["autoincrement"] for t in _plan(root)["tables"]}
    assert again == {"a": False, "b": True}
    sql = (root / "unified.sql").read_text(encoding="utf-8")
    assert "AUTOINCREMENT" in sql.split('CREATE TABLE "b"')[1].split(";")[0]
    assert "AUTOINCREMENT" not in sql.split('CREATE TABLE "a"')[1].split(";")[0]

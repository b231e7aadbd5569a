"""Merging needs agreeing names as well as agreeing shapes (issue 11, item 4).

Same shape is not the same entity: ``action_log`` of two trackers merges, ``users`` and
``members`` do not (the merge is only suggested until the user accepts it), and
``--merge-by-shape`` restores the shape-only rule.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbfold.cli import cli
from dbfold.design import DesignOptions, check_plan, design, render_report, render_sql
from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.plan import Plan, PlanTable
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

COLUMNS = "id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT, score REAL"
ODD_NAMES = ["", 'A"b"c', "[", "''", "--", " ", "%s%s", "\t", "\n", "s", "es"]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _store(root: Path, path: str, table: str, rows: int = 3) -> None:
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    # Tables called *log* get one more column: another shape than the rest.
    columns = f"{COLUMNS}, detail TEXT" if "log" in table.casefold() else COLUMNS
    with sqlite3.connect(file) as db:
        db.execute(f"CREATE TABLE {_quote(table)} ({columns})")
        db.executemany(
            f"INSERT INTO {_quote(table)} (name, created_at, score) VALUES (?, ?, ?)",
            [(f"{path}-{i}", f"2024-01-0{i + 1}", i / 2) for i in range(rows)],
        )
    db.close()


def _project(root: Path, tables: dict[str, str]) -> Analysis:
    for path, table in tables.items():
        _store(root, path, table)
    analysis = analyze(root)
    save_analysis(analysis, root)
    return analysis


def _merged(plan: Plan) -> list[PlanTable]:
    return [t for t in plan.tables if len(t.sources) > 1]


def _merge_suggestions(plan: Plan) -> list[str]:
    return [s.id for s in plan.suggestions if s.kind == "merge"]


def _stable(plan: Plan, analysis: Analysis) -> None:
    assert check_plan(plan.to_json(), analysis) == plan
    assert Plan.from_json(plan.to_json()) == plan
    assert design(analysis, previous=plan) == plan
    db = sqlite3.connect(":memory:")
    db.executescript(render_sql(plan))
    db.close()


def _accept(plan: Plan) -> Plan:
    return replace(
        plan,
        suggestions=tuple(
            replace(s, accepted=True) if s.kind == "merge" else s for s in plan.suggestions
        ),
    )


def test_odd_names_with_one_shape_do_not_merge(tmp_path: Path) -> None:
    analysis = _project(tmp_path, {f"db{i:02}.db": n for i, n in enumerate(ODD_NAMES)})
    plan = design(analysis)
    assert _merged(plan) == []
    assert len(plan.tables) == len(ODD_NAMES)
    homes = {s.table for t in plan.tables for s in t.sources}
    assert homes == set(ODD_NAMES)
    # The one same-shaped group is offered as one merge, with a decision saying why not.
    (sid,) = _merge_suggestions(plan)
    assert all(f"db{i:02}.db:" in sid for i in range(len(ODD_NAMES)))
    (suggestion,) = [s for s in plan.suggestions if s.kind == "merge"]
    assert not suggestion.accepted
    assert plan.table(suggestion.table) is not None
    assert plan.table(suggestion.ref_table) is not None
    declined = [d for d in plan.decisions if d.rule == "merges"]
    assert len(declined) == 1 and "not merged" in declined[0].text
    report = render_report(plan, analysis)
    assert "Suggested merges" in report and "not merged" in report
    _stable(plan, analysis)


def test_same_name_in_two_stores_merges(tmp_path: Path) -> None:
    analysis = _project(
        tmp_path, {"data/tracking.db": "action_log", "data/quality.db": "action_log"}
    )
    plan = design(analysis)
    (merged,) = _merged(plan)
    assert merged.name == "action_log"
    assert _merge_suggestions(plan) == []
    (decision,) = [d for d in plan.decisions if d.rule == "merges"]
    assert decision.text.startswith("same name and shape in 2 stores: merged")
    _stable(plan, analysis)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("action_log", "action_logs"),
        ("Action_Log", "ACTION_LOGS"),
        ("entry", "entries"),
        ("statuses", "status"),
        ("box", "boxes"),
    ],
)
def test_singular_and_plural_merge(tmp_path: Path, first: str, second: str) -> None:
    analysis = _project(tmp_path, {"a.db": first, "b.db": second})
    plan = design(analysis)
    (merged,) = _merged(plan)
    assert merged.name == first
    (decision,) = [d for d in plan.decisions if d.rule == "merges"]
    if first.casefold() != second.casefold():
        assert "singular/plural" in decision.text
    _stable(plan, analysis)


@pytest.mark.parametrize(
    ("tables", "why"),
    [
        ({"data/tracking.db": "tracking_events", "data/web.db": "events"}, "prefix 'tracking'"),
        ({"data/tracking.db": "events_tracking", "data/web.db": "events"}, "suffix 'tracking'"),
        ({"data/tracking.db": "tracking_events", "data/web.db": "web_event"}, "prefix 'web'"),
    ],
)
def test_store_prefix_merges(tmp_path: Path, tables: dict[str, str], why: str) -> None:
    analysis = _project(tmp_path, tables)
    plan = design(analysis)
    assert len(_merged(plan)) == 1
    (decision,) = [d for d in plan.decisions if d.rule == "merges"]
    assert why in decision.text
    _stable(plan, analysis)


def test_other_prefix_is_not_a_store_prefix(tmp_path: Path) -> None:
    # "audit_" is not web.db's stem: audit_events and events are different entities.
    analysis = _project(tmp_path, {"data/web.db": "audit_events", "data/app.db": "events"})
    plan = design(analysis)
    assert _merged(plan) == []
    assert len(_merge_suggestions(plan)) == 1


def test_users_and_members_are_suggested_not_merged(tmp_path: Path) -> None:
    analysis = _project(tmp_path, {"a.db": "users", "b.db": "members"})
    plan = design(analysis)
    assert _merged(plan) == []
    assert {t.name for t in plan.tables} == {"users", "members"}
    (s,) = [s for s in plan.suggestions if s.kind == "merge"]
    assert (s.table, s.ref_table, s.accepted) == ("users", "members", False)
    assert "'users', 'members'" in s.text
    (decision,) = [d for d in plan.decisions if d.rule == "merges"]
    assert "not merged" in decision.text and s.id in decision.text
    _stable(plan, analysis)


def test_accepted_merge_suggestion_merges_on_redesign(tmp_path: Path) -> None:
    analysis = _project(tmp_path, {"a.db": "users", "b.db": "members"})
    accepted = _accept(design(analysis))
    # --check accepts the edit (a merge is applied by the next design, not by --check) ...
    assert check_plan(accepted.to_json(), analysis).tables == accepted.tables
    # ... and design over the edited plan merges.
    plan = design(analysis, previous=accepted)
    (merged,) = _merged(plan)
    assert merged.name == "users"
    assert {(s.store, s.table) for s in merged.sources} == {("a.db", "users"), ("b.db", "members")}
    (s,) = [s for s in plan.suggestions if s.kind == "merge"]
    assert s.accepted and (s.table, s.ref_table) == ("users", "users")
    assert not plan.notes
    (decision,) = [d for d in plan.decisions if d.rule == "merges"]
    assert "was accepted" in decision.text
    _stable(plan, analysis)


def test_accepted_merge_via_cli_then_migrate_and_verify(tmp_path: Path) -> None:
    analysis = _project(tmp_path, {"a.db": "users", "b.db": "members", "c.db": "action_log"})
    _project(tmp_path, {"d.db": "action_logs"})
    runner = CliRunner()
    result = runner.invoke(cli, ["analyze", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["design", str(tmp_path), "--no-probe"])
    assert result.exit_code == 0, result.output
    where = plan_path(tmp_path)
    write_atomic(where, _accept(Plan.from_json(where.read_bytes())).to_json() + b"\n")
    result = runner.invoke(cli, ["design", str(tmp_path), "--check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["design", str(tmp_path), "--no-probe"])
    assert result.exit_code == 0, result.output
    plan = Plan.from_json(where.read_bytes())
    assert sorted(len(t.sources) for t in plan.tables) == [2, 2]
    from dbfold.state import load_analysis

    analysis = load_analysis(tmp_path)
    report = migrate(plan, analysis, tmp_path, execute=True)
    assert report.verify is not None and report.verify.ok
    check = verify(plan, tmp_path, tmp_path / plan.target, analysis=analysis)
    assert check.ok, check.mismatches
    with sqlite3.connect(tmp_path / plan.target) as db:
        counts = dict(db.execute('SELECT source, count(*) FROM "users" GROUP BY source'))
    db.close()
    assert counts == {"a": 3, "b": 3}


def test_merge_by_shape_restores_the_old_rule(tmp_path: Path) -> None:
    analysis = _project(tmp_path, {f"db{i:02}.db": n for i, n in enumerate(ODD_NAMES)})
    plan = design(analysis, options=DesignOptions(merge_by_shape=True))
    (merged,) = _merged(plan)
    assert len(merged.sources) == len(ODD_NAMES)
    assert _merge_suggestions(plan) == []
    (decision,) = [d for d in plan.decisions if d.rule == "merges"]
    assert "--merge-by-shape" in decision.text
    assert check_plan(plan.to_json(), analysis) == plan
    again = design(analysis, options=DesignOptions(merge_by_shape=True), previous=plan)
    assert again == plan


def test_merge_by_shape_cli_flag(tmp_path: Path) -> None:
    _project(tmp_path, {"a.db": "users", "b.db": "members"})
    runner = CliRunner()
    assert runner.invoke(cli, ["analyze", str(tmp_path)]).exit_code == 0
    result = runner.invoke(cli, ["design", str(tmp_path), "--no-probe", "--merge-by-shape"])
    assert result.exit_code == 0, result.output
    plan = Plan.from_json(plan_path(tmp_path).read_bytes())
    assert [len(t.sources) for t in plan.tables] == [2]
    report = migrate(plan, analyze(tmp_path), tmp_path, execute=True)
    assert report.verify is not None and report.verify.ok


def test_accepted_odd_names_merge_migrates_and_verifies(tmp_path: Path) -> None:
    analysis = _project(tmp_path, {f"db{i:02}.db": n for i, n in enumerate(ODD_NAMES)})
    plan = design(analysis, previous=_accept(design(analysis)))
    (merged,) = _merged(plan)
    assert len(merged.sources) == len(ODD_NAMES)
    _stable(plan, analysis)
    write_atomic(plan_path(tmp_path), plan.to_json() + b"\n")
    report = migrate(plan, analysis, tmp_path, execute=True)
    assert report.verify is not None and report.verify.ok
    check = verify(plan, tmp_path, tmp_path / plan.target, analysis=analysis)
    assert check.ok, check.mismatches

"""Golden cases: tests/cases/<name>/analysis.json → plan.json, unified.sql, REPORT.md.

Regenerate the expected files with ``DBFOLD_REGEN=1 pytest tests/design``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from dbfold.design import check_plan, design, render_report, render_sql
from dbfold.model import Analysis
from dbfold.plan import Plan

CASES = Path(__file__).resolve().parents[1] / "cases"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "analysis.json").exists())
REGEN = os.environ.get("DBFOLD_REGEN") == "1"


def _compare(path: Path, actual: str) -> None:
    if REGEN or not path.exists():
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs; DBFOLD_REGEN=1 updates it"


@pytest.mark.parametrize("name", NAMES)
def test_golden(name: str) -> None:
    case = CASES / name
    analysis = Analysis.from_json((case / "analysis.json").read_bytes())
    plan = design(analysis)
    _compare(case / "plan.json", plan.to_json().decode() + "\n")
    sql = render_sql(plan)
    _compare(case / "unified.sql", sql)
    _compare(case / "REPORT.md", render_report(plan, analysis))
    db = sqlite3.connect(":memory:")
    db.executescript(sql)
    names = {
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if r[0] != "sqlite_sequence"  # made by an AUTOINCREMENT table
    }
    assert names == {t.name for t in plan.tables}
    assert check_plan(plan.to_json(), analysis) == plan
    assert Plan.from_json(plan.to_json()) == plan
    assert design(analysis, previous=plan) == plan

"""Fixtures: the sample project and a 60-table project, migrated, with their reports."""

from __future__ import annotations

import pytest
from report_support import Reported, build_wide_project, migrate_saved, prepare

from dbfold.demo import build_sample_project
from dbfold.report import write_report


@pytest.fixture(scope="session")
def sample_reported(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    root = tmp_path_factory.mktemp("report-sample") / "proj"
    build_sample_project(root, scale=0.01)
    plan, analysis = prepare(root)
    migration = migrate_saved(root, plan, analysis)
    html = write_report(root)
    return Reported(root, plan, analysis, migration, html)


@pytest.fixture(scope="session")
def wide_reported(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    root = tmp_path_factory.mktemp("report-wide") / "proj"
    expected = build_wide_project(root)
    plan, analysis = prepare(root)
    assert len(plan.tables) == expected >= 60
    migration = migrate_saved(root, plan, analysis)
    html = write_report(root)
    return Reported(root, plan, analysis, migration, html)

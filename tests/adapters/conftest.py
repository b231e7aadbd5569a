"""Fixtures of the adapter tests."""

from __future__ import annotations

import pytest
from adapters_support import RENAMES, Project, build_stores, fill_unified, rename_columns

from dbfold.design import design
from dbfold.scan import analyze


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("adapters") / "project"
    build_stores(root)
    analysis = analyze(root)
    plan = rename_columns(design(analysis), RENAMES)
    unified = root / "data" / "unified.db"
    fill_unified(plan, root, unified, analysis=analysis)
    return Project(root, analysis, plan, unified)

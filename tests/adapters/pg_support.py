"""Support of the PostgreSQL adapter tests: a project migrated into a PostgreSQL database."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from adapters_support import Project

from dbfold.adapters import connect
from dbfold.migrate import migrate


def migrate_to(project: Project, url: str, dest: Path) -> Project:
    """A copy of ``project`` under ``dest`` whose plan targets ``url``, migrated there."""
    copy = project.copy(dest)
    plan = dataclasses.replace(copy.plan, target=url)
    report = migrate(plan, copy.analysis, copy.root, execute=True, target=url)
    assert not [p for p in report.problems if p.severity == "error"], report.problems
    return Project(copy.root, copy.analysis, plan, copy.unified)


def pair(project: Project, store: str, url: str) -> tuple[sqlite3.Connection, Any]:
    """The legacy file and a PostgreSQL adapter connection for ``store``."""
    legacy = sqlite3.connect(project.root / store)
    adapted = connect(store, project.plan, url, root=project.root, analysis=project.analysis)
    return legacy, adapted

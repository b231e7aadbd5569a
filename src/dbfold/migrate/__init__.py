"""migrate(), verify(): move every row of the sources into the unified database, provably.

The plan becomes an ordered list of operations (:mod:`dbfold.migrate.ops`) that both
describe themselves (the dry run) and run; copies are journalled in ``dbfold_migrations``
so a rerun resumes or copies only new rows; :func:`verify` compares each source with its
target rows inside SQLite, exactly (:mod:`dbfold.migrate.verify_sql`).
"""

from __future__ import annotations

from dbfold.migrate.ops import Operation, build_operations
from dbfold.migrate.progress import NullProgress, Progress
from dbfold.migrate.report import (
    MigrationReport,
    OptimizeReport,
    Orphan,
    SourceResult,
    TableCheck,
    TablePlan,
    VerifyReport,
)
from dbfold.migrate.runner import migrate, resolve_pg, resolve_target, save_report
from dbfold.migrate.verify import verify

__all__ = [
    "MigrationReport",
    "NullProgress",
    "Operation",
    "OptimizeReport",
    "Orphan",
    "Progress",
    "SourceResult",
    "TableCheck",
    "TablePlan",
    "VerifyReport",
    "build_operations",
    "migrate",
    "resolve_pg",
    "resolve_target",
    "save_report",
    "verify",
]

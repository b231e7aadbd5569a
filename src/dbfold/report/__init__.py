"""The report people look at: ``.dbfold/report.html``, one self-contained page.

:func:`write_report` gathers the plan, the analysis, the latest migration and verification
and what the target records (:mod:`.facts`), and renders the page (:mod:`.html`): the ER
diagram as inline SVG (:mod:`.svg`), before/after charts (:mod:`.charts`), lineage and the
items to review with their plan.json paths (:mod:`.lineage`) and the cutover's timeline
(:mod:`.timeline`). ``dbfold report`` writes it; ``migrate --execute`` and ``verify``
refresh it. ``REPORT.md`` (by ``design``) stays the Markdown version for code forges.
"""

from __future__ import annotations

from pathlib import Path

from dbfold.migrate.report import MigrationReport, VerifyReport
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.report.facts import ReportFacts, gather, save_verify
from dbfold.report.html import render_html

__all__ = [
    "REPORT_HTML",
    "ReportFacts",
    "gather",
    "render_html",
    "report_path",
    "save_verify",
    "write_report",
]

REPORT_HTML = "report.html"


def report_path(root: Path) -> Path:
    """``.dbfold/report.html`` under the project root."""
    from dbfold.state import state_dir

    return state_dir(root) / REPORT_HTML


def write_report(
    root: Path,
    *,
    plan: Plan | None = None,
    analysis: Analysis | None = None,
    migration: MigrationReport | None = None,
    verify: VerifyReport | None = None,
    target: Path | None = None,
) -> Path:
    """Write ``.dbfold/report.html`` for the project at ``root`` and return its path.

    What is not given is read from ``.dbfold/`` (the newest executed migration report and
    verification) and from the target (read-only through sqlite3).

    Raises:
        UsageError: there is no plan yet.
        DbfoldError: the file cannot be written.
    """
    from dbfold.state import write_atomic

    facts = gather(
        root, plan=plan, analysis=analysis, migration=migration, verify=verify, target=target
    )
    path = report_path(root)
    write_atomic(path, render_html(facts).encode())
    return path

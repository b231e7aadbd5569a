"""``design``: from an analysis to a plan, and from a plan to SQL and a report.

The design is an ordered tuple of small pure rules over one state (see :mod:`.rules`), in
the manner of sqlglot's optimizer. Rendering and checking are pure functions of the plan.
:func:`probe_suggestions` and :func:`probe_types` are the steps that read source values
(read-only): to check likely foreign keys against the data, and stored values against their
declared types.
"""

from __future__ import annotations

from dbfold.design.check import check_plan
from dbfold.design.options import DesignOptions
from dbfold.design.pipeline import design
from dbfold.design.probe import probe_suggestions
from dbfold.design.probe_types import probe_sources, probe_types
from dbfold.design.render_sql import render_sql, summary_line
from dbfold.design.report import render_report

__all__ = [
    "DesignOptions",
    "check_plan",
    "design",
    "probe_sources",
    "probe_suggestions",
    "probe_types",
    "render_report",
    "render_sql",
    "summary_line",
]

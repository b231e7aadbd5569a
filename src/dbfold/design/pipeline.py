"""``design()``: run the rules over an analysis and return the plan."""

from __future__ import annotations

from dbfold.design.options import DesignOptions
from dbfold.design.pg_plan import postgres_plan
from dbfold.design.rules import RULES
from dbfold.design.state import State
from dbfold.errors import DesignError
from dbfold.model import ANALYSIS_FORMAT, Analysis
from dbfold.pgurl import is_postgres
from dbfold.plan import DEFAULT_TARGET, PLAN_FORMAT, Plan


def design(
    analysis: Analysis,
    *,
    options: DesignOptions = DesignOptions(),  # noqa: B008 - frozen, so sharing is safe
    previous: Plan | None = None,
) -> Plan:
    """Propose one unified schema for every store of ``analysis``.

    Args:
        analysis: what ``analyze`` found.
        options: naming, merging and flattening choices, and the target. When the target
            is a ``postgresql://`` URL the plan also gets PostgreSQL names and types
            (:func:`dbfold.design.pg_plan.postgres_plan`).
        previous: the plan of an earlier run; the user's edits in it (renames, exclusions,
            undone merges, accepted suggestions) are kept where they still apply, and
            ``Plan.notes`` says which no longer do.

    Returns:
        The plan: tables with their sources, exclusions, decisions and suggestions.

    Raises:
        DesignError: the analysis or the previous plan has a format this version cannot read.
    """
    if analysis.format != ANALYSIS_FORMAT:
        raise DesignError(
            f"analysis.json has format {analysis.format!r}, expected {ANALYSIS_FORMAT!r};"
            " re-run `dbfold analyze`"
        )
    if previous is not None and previous.format != PLAN_FORMAT:
        raise DesignError(f"plan.json has format {previous.format!r}, expected {PLAN_FORMAT!r}")
    state = State(analysis=analysis, previous=previous)
    for rule in RULES:
        state = rule(state, options)
    target = options.target or (previous.target if previous is not None else DEFAULT_TARGET)
    schema = options.schema or (previous.schema if previous is not None else "public")
    if not is_postgres(target):
        schema = "public"  # a schema means nothing to SQLite; plan.json stays as it was
    plan = Plan(
        target=target,
        schema=schema,
        tables=state.tables,
        views=state.views,
        triggers=state.triggers,
        excluded=state.excluded,
        decisions=state.decisions,
        suggestions=state.suggestions,
        notes=state.notes,
    )
    if is_postgres(target):
        # Last, over the finished plan: names, types and defaults as PostgreSQL has them.
        plan = postgres_plan(plan, analysis, previous)
    return plan

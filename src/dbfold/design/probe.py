"""Check likely foreign keys against the data: do the column's values match the key?

``design()`` is pure over the analysis, which holds no values, so its foreign-key suggestions
are guesses from names. :func:`probe_suggestions` is a separate, optional step that reads the
SQLite sources and counts, for each suggestion, the non-null values of the column that have no
match in the referenced key. A suggestion none of whose values match is dropped (with a
decision saying why); the others say how many values match.

Sources are never written and nothing appears beside them: they are read through
:func:`dbfold.sqlitefiles.readable` (a read-only URI with SQLite's locks, or a private copy of a
WAL database that nothing has open), never with ``immutable=1`` and never with plain file I/O
on a database this process has open.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from dbfold import sqlitefiles
from dbfold.model import Analysis
from dbfold.plan import Decision, Plan, PlanTable, Suggestion
from dbfold.quoting import quote

RULE = "probe"
_FINDING = re.compile(r" \(values: [^()]*\)$")
#: Seconds to wait for another process's lock before giving up on a store.
LOCK_TIMEOUT = 0.5


@dataclass(frozen=True)
class _Side:
    """One end of a suggested key in the sources: a column of a table of a SQLite store."""

    store: str
    table: str
    column: str


@dataclass(frozen=True)
class Match:
    """What the probe found: ``total`` non-null values, ``unmatched`` of them without a key."""

    total: int
    unmatched: int

    @property
    def matched(self) -> int:
        """Values that have a match in the referenced key."""
        return self.total - self.unmatched

    def describe(self) -> str:
        """The finding in words, as the report shows it.

        >>> Match(412, 0).describe(), Match(412, 37).describe(), Match(0, 0).describe()
        ('all 412 values match', '37 of 412 values have no match', 'the column holds no values')
        """
        if self.total == 0:
            return "the column holds no values"
        if self.unmatched == 0:
            return f"all {self.total} values match"
        return f"{self.unmatched} of {self.total} values have no match"


def _sides(table: PlanTable, column: str, analysis: Analysis) -> list[_Side] | None:
    """The SQLite source columns behind ``table.column``; None when one is not SQLite."""
    out: list[_Side] = []
    low = column.casefold()
    for src in table.sources:
        if src.array is not None:
            return None
        try:
            kind = analysis.store(src.store).kind
        except KeyError:
            return None
        if kind != "sqlite":
            return None
        # SQLite source paths are plain column names (no JSON nesting).
        paths = [p for p, target in src.columns.items() if target.casefold() == low]
        if len(paths) != 1:
            return None  # a surrogate, discriminator or generated column: nothing to read
        out.append(_Side(src.store, src.table, paths[0]))
    return out or None


@contextmanager
def readable(path: Path) -> Iterator[str]:
    """Yield a URI that reads ``path`` without writing anything beside it."""
    with sqlitefiles.readable(path, timeout=LOCK_TIMEOUT) as view:
        yield view.uri


def _count(child: _Side, parent: _Side, root: Path) -> Match:
    """Count the child column's non-null values and those missing from the parent key."""
    with ExitStack() as stack:
        child_uri = stack.enter_context(readable(root / child.store))
        con = sqlite3.connect(child_uri, uri=True, timeout=LOCK_TIMEOUT)
        stack.callback(con.close)
        ref = "main"
        if parent.store != child.store:
            parent_uri = stack.enter_context(readable(root / parent.store))
            con.execute("ATTACH DATABASE ? AS ref", (parent_uri,))
            ref = "ref"
        col, key = quote(child.column), quote(parent.column)
        sql = (
            f"SELECT count(*), coalesce(sum({col} NOT IN"
            f" (SELECT {key} FROM {ref}.{quote(parent.table)} WHERE {key} IS NOT NULL)), 0)"
            f" FROM main.{quote(child.table)} WHERE {col} IS NOT NULL"
        )
        total, unmatched = con.execute(sql).fetchone()
        return Match(int(total), int(unmatched))


def probe_suggestion(
    plan: Plan, suggestion: Suggestion, analysis: Analysis, root: Path | str
) -> Match | None:
    """Compare one foreign-key suggestion with the data; None when it cannot be checked.

    Only suggestions between SQLite sources are checked (within one store or across two);
    a JSON or CSV end, a surrogate key or an unreadable store gives None.
    """
    if suggestion.kind != "foreign_key" or len(suggestion.columns) != 1:
        return None
    table, ref = plan.table(suggestion.table), plan.table(suggestion.ref_table)
    if table is None or ref is None or len(suggestion.ref_columns) != 1:
        return None
    children = _sides(table, suggestion.columns[0], analysis)
    parents = _sides(ref, suggestion.ref_columns[0], analysis)
    if children is None or parents is None or len(parents) != 1:
        return None
    total = unmatched = 0
    for child in children:
        try:
            found = _count(child, parents[0], Path(root))
        except (sqlite3.Error, OSError, sqlitefiles.SourceReadError):
            return None  # locked, corrupt or gone: the suggestion stays as it is
        total += found.total
        unmatched += found.unmatched
    return Match(total, unmatched)


def probe_suggestions(plan: Plan, analysis: Analysis, root: Path | str) -> Plan:
    """Check the plan's foreign-key suggestions against the SQLite sources' values.

    Each checked suggestion's text gains what was found ("(values: all 412 values match)",
    "(values: 37 of 412 values have no match)"); probing a probed plan again replaces it. A
    suggestion none of whose values match is dropped, with a decision saying so, unless the
    user already accepted it. Sources are only read.

    Args:
        plan: a plan from ``design`` (or a checked, hand-edited one).
        analysis: the analysis the plan was made from.
        root: the project root that the analysis' store paths are relative to.

    Returns:
        The plan with the suggestions annotated or dropped; everything else unchanged.
    """
    kept: list[Suggestion] = []
    decisions: list[Decision] = list(plan.decisions)
    for s in plan.suggestions:
        found = probe_suggestion(plan, s, analysis, root)
        if found is None:
            kept.append(s)
            continue
        if found.total > 0 and found.matched == 0 and not s.accepted:
            text = f"not suggested: none of the {found.total} values of {s.table}.{s.columns[0]}"
            text += f" match {s.ref_table}.{s.ref_columns[0]}"
            decisions.append(Decision(rule=RULE, subject=s.id, text=text))
            continue
        # Idempotent: a plan probed before gets its finding replaced, not repeated.
        text = _FINDING.sub("", s.text)
        kept.append(replace(s, text=f"{text} (values: {found.describe()})"))
    return replace(plan, suggestions=tuple(kept), decisions=tuple(decisions))

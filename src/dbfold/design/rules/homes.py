"""Rule: give every source table a home (a draft target table) or an exclusion with a reason."""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.render_sql import carried_default
from dbfold.design.state import Draft, Field, Home, State
from dbfold.model import Store
from dbfold.plan import Exclusion, escape_key
from dbfold.scan.json_verdict import not_migratable

PICKLE_REASON = "pickle files are never loaded (unpickling runs arbitrary code)"


def _store_exclusion(store: Store) -> str | None:
    """Why a whole store gets no home, or None when its tables should be looked at."""
    if store.kind == "pickle":
        return PICKLE_REASON
    errors = [p.message for p in store.problems if p.severity == "error"]
    refused = [m for m in errors if not_migratable(m)]
    if refused:
        # analyze's verdict (dbfold.scan.json_verdict): it says why and what to do.
        return refused[0]
    if not store.tables and errors:
        return f"could not be read: {errors[0]}"
    return None


def _empty_reason(store: Store, table: str) -> str:
    """Why a table with no fields has no home: damaged (analyze says how), or empty."""
    marker = f"table {table!r} cannot be read"
    for problem in store.problems:
        if problem.severity == "error" and marker in problem.message:
            return problem.message  # names the damage and the .recover command
    return "no fields found (the record set is empty)"


def find_homes(state: State, options: DesignOptions) -> State:
    """Make one single-draft home per source table; exclude what cannot or should not move.

    A source default is carried as SQLite evaluates it (``DEFAULT ""`` is the string ``''``,
    see :func:`~dbfold.design.render_sql.default_sql`).

    Excluded: pickle stores, unreadable stores (and those analyze judged not migratable,
    with its message as the reason), SQLite's own ``sqlite_*`` tables, record sets
    without fields, and whatever the user excluded in a previous plan.
    """
    homes: list[Home] = []
    excluded = list(state.excluded)

    def exclude(store: str, table: str, reason: str, by: str = "design") -> None:
        excluded.append(Exclusion(store=store, table=table, reason=reason, by=by))

    for store in state.analysis.stores:
        reason = _store_exclusion(store)
        if reason is not None:
            names = [t.name for t in store.tables] or [""]
            for name in names:
                exclude(store.path, name, reason)
            continue
        if not store.tables:
            exclude(store.path, "", "the store holds no tables or records")
            continue
        for table in store.tables:
            user_reason = state.edits.excluded.get((store.path, table.name))
            if user_reason is not None:
                exclude(store.path, table.name, user_reason, by="user")
            elif store.kind == "sqlite" and table.name.lower().startswith("sqlite_"):
                exclude(store.path, table.name, "SQLite's own bookkeeping table")
            elif not table.columns and not table.rows:
                exclude(store.path, table.name, _empty_reason(store, table.name))
            else:
                fields = tuple(
                    Field(
                        path=c.name if table.layout == "table" else escape_key(c.name),
                        name=c.name,
                        column=c,
                        nullable=c.nullable,
                        primary_key=c.primary_key or c.name in table.primary_key,
                        default=carried_default(c.default),
                    )
                    for c in table.columns
                )
                # Records without any field still count: a surrogate key gives each a row.
                draft = Draft(
                    store=store.path, table=table, fields=fields, surrogate=None if fields else "id"
                )
                homes.append(Home(name=table.name, drafts=(draft,)))
    return replace(state, homes=tuple(homes), excluded=tuple(excluded))

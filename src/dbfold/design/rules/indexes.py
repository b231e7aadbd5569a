"""Rule: an index on every foreign-key column, and index names unique across the schema.

SQLite keeps tables, views and indexes in one namespace, so index names are made unique
against every table name and every other index (two stores often both have ``idx_ts``).
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.state import State, unique_name
from dbfold.plan import PlanIndex, PlanTable

RULE = "indexes"


def _covered(table: PlanTable, cols: tuple[str, ...]) -> bool:
    """True when an index the table already has starts with ``cols`` (so lookups are fast).

    A partial index holds only some rows, and an expression index's ``columns`` are what its
    expressions read, not its key: neither serves a lookup by the columns themselves.
    """
    low = tuple(c.casefold() for c in cols)
    plain = (i.columns for i in table.indexes if i.where is None and not i.expressions)
    prefixes = [table.primary_key, *table.unique, *plain]
    return any(tuple(c.casefold() for c in p[: len(low)]) == low for p in prefixes)


def index_foreign_keys(state: State, options: DesignOptions) -> State:
    """Add missing foreign-key indexes and settle every index name."""
    taken = [t.name for t in state.tables]
    tables: list[PlanTable] = []
    for table in state.tables:
        indexes: list[PlanIndex] = []
        for ix in table.indexes:
            name = unique_name(ix.name, taken)
            taken.append(name)
            indexes.append(replace(ix, name=name))
        table = replace(table, indexes=tuple(indexes))
        for fk in table.foreign_keys:
            if _covered(table, fk.columns):
                continue
            name = unique_name(f"idx_{table.name}_{'_'.join(fk.columns)}", taken)
            taken.append(name)
            ix = PlanIndex(name=name, columns=fk.columns, note="foreign key")
            table = replace(table, indexes=(*table.indexes, ix))
        tables.append(table)
    return replace(state, tables=tuple(tables))

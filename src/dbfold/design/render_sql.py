"""Render a plan as SQL DDL (``unified.sql``): tables, indexes, views, triggers.

Every identifier goes through :func:`quote`. Tables come in foreign-key dependency order, so
the script also suits databases that check references at CREATE time. The neutral types map
to SQLite type names chosen for their *affinity*; a ``dialect`` seam keeps room for
PostgreSQL, whose mapping is here as a preview.
"""

from __future__ import annotations

import sqlglot
from sqlglot.errors import SqlglotError

from dbfold.errors import DesignError
from dbfold.plan import Plan, PlanColumn, PlanTable
from dbfold.quoting import quote

#: Neutral type → SQLite type name. json is TEXT, not JSON: a declared JSON column would get
#: NUMERIC affinity and turn the text "5" into the integer 5.
SQLITE_TYPES = {
    "integer": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "blob": "BLOB",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "json": "TEXT",
    "numeric": "NUMERIC",
}
POSTGRES_TYPES = {
    "integer": "BIGINT",
    "real": "DOUBLE PRECISION",
    "text": "TEXT",
    "blob": "BYTEA",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "json": "JSONB",
    "numeric": "NUMERIC",
}
DIALECTS = {"sqlite": SQLITE_TYPES, "postgres": POSTGRES_TYPES}


def column_type(col: PlanColumn, dialect: str = "sqlite") -> str:
    """The dialect's type name for a plan column (unknown types fall back to the blob type)."""
    types = DIALECTS[dialect]
    if dialect == "sqlite" and col.type == "blob" and col.declared is None:
        return ""  # no declared type: no affinity, values stay exactly as stored
    return types.get(col.type, types["blob"])


def default_sql(expr: str) -> str:
    """A column default as SQL; raise DesignError if it is not one SQL expression.

    >>> default_sql("0"), default_sql("'x'"), default_sql("datetime('now')")
    ('0', "'x'", "(DATETIME('now'))")
    """
    try:
        tree = sqlglot.parse_one(expr, read="sqlite")
    except SqlglotError as exc:
        raise DesignError(f"default {expr!r} is not a SQL expression") from exc
    text = tree.sql(dialect="sqlite")
    if isinstance(tree, sqlglot.exp.Literal) or tree.sql().upper() in (
        "NULL",
        "TRUE",
        "FALSE",
        "CURRENT_TIMESTAMP",
        "CURRENT_DATE",
        "CURRENT_TIME",
    ):
        return text
    if isinstance(tree, sqlglot.exp.Neg) and isinstance(tree.this, sqlglot.exp.Literal):
        return text
    return f"({text})"


def table_order(plan: Plan) -> list[PlanTable]:
    """Tables with every referenced table before its referrers (cycles keep plan order)."""
    by_low = {t.name.casefold(): t for t in plan.tables}
    done: dict[str, PlanTable] = {}
    visiting: set[str] = set()

    def visit(t: PlanTable) -> None:
        low = t.name.casefold()
        if low in done or low in visiting:
            return
        visiting.add(low)
        for fk in t.foreign_keys:
            ref = by_low.get(fk.ref_table.casefold())
            if ref is not None:
                visit(ref)
        visiting.discard(low)
        done[low] = t

    for t in plan.tables:
        visit(t)
    return list(done.values())


def _cols(names: tuple[str, ...]) -> str:
    return ", ".join(quote(n) for n in names)


def integer_key(table: PlanTable) -> PlanColumn | None:
    """The table's key column if the key is one integer column (SQLite's rowid), else None."""
    if len(table.primary_key) != 1:
        return None
    col = table.column(table.primary_key[0])
    return col if col is not None and col.type == "integer" else None


def autoincrement_key(table: PlanTable) -> PlanColumn | None:
    """The key column that is rendered ``AUTOINCREMENT`` (SQLite), or None."""
    return integer_key(table) if table.autoincrement else None


def create_table(table: PlanTable, dialect: str = "sqlite") -> str:
    """The CREATE TABLE statement of one plan table."""
    lines = []
    single_int_pk = integer_key(table) is not None
    for col in table.columns:
        parts = [quote(col.name)]
        typ = column_type(col, dialect)
        if single_int_pk and col.primary_key and dialect == "sqlite":
            # Exactly "INTEGER PRIMARY KEY" makes the column the rowid: fast and auto-numbered.
            typ = "INTEGER"
        if typ:
            parts.append(typ)
        if single_int_pk and col.primary_key:
            parts.append("PRIMARY KEY")
            if table.autoincrement and dialect == "sqlite":
                # Keys are never reused: SQLite keeps the high-water mark in sqlite_sequence.
                parts.append("AUTOINCREMENT")
        if not col.nullable:
            parts.append("NOT NULL")
        if col.default is not None:
            parts.append(f"DEFAULT {default_sql(col.default)}")
        lines.append(" ".join(parts))
    if table.primary_key and not single_int_pk:
        lines.append(f"PRIMARY KEY ({_cols(table.primary_key)})")
    for uniq in table.unique:
        lines.append(f"UNIQUE ({_cols(uniq)})")
    for fk in table.foreign_keys:
        text = f"FOREIGN KEY ({_cols(fk.columns)}) REFERENCES {quote(fk.ref_table)}"
        text += f" ({_cols(fk.ref_columns)})"
        if fk.on_delete.upper() != "NO ACTION":
            text += f" ON DELETE {fk.on_delete.upper()}"
        if fk.on_update.upper() != "NO ACTION":
            text += f" ON UPDATE {fk.on_update.upper()}"
        lines.append(text)
    body = ",\n  ".join(lines)
    return f"CREATE TABLE {quote(table.name)} (\n  {body}\n);"


def render_sql(plan: Plan, dialect: str = "sqlite") -> str:
    """Render the whole plan as one SQL script (``unified.sql``).

    Args:
        plan: the plan to render.
        dialect: ``sqlite`` (default) or ``postgres`` (preview: tables, indexes, views).

    Raises:
        DesignError: an unknown dialect, or a default that is not a SQL expression.
    """
    if dialect not in DIALECTS:
        raise DesignError(f"unknown SQL dialect {dialect!r}; use one of {sorted(DIALECTS)}")
    out = [f"-- unified schema ({plan.format}), generated by dbfold design; edit plan.json"]
    out.append("")
    for table in table_order(plan):
        out.append(create_table(table, dialect))
        out.append("")
    for table in plan.tables:
        for ix in table.indexes:
            unique = "UNIQUE " if ix.unique else ""
            out.append(
                f"CREATE {unique}INDEX {quote(ix.name)} ON {quote(table.name)}"
                f" ({_cols(ix.columns)});"
            )
    for view in plan.views:
        sql = view.sql
        if dialect != "sqlite":
            sql = sqlglot.transpile(sql, read="sqlite", write=dialect)[0]
        out.append(f"{sql.rstrip().rstrip(';')};")
    if dialect == "sqlite":
        for trigger in plan.triggers:
            out.append(f"{trigger.sql.rstrip().rstrip(';')};")
    return "\n".join(out).rstrip() + "\n"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(plan: Plan) -> str:
    """The terminal summary, in the seed's words.

    >>> summary_line(Plan())
    'Unified schema with 0 tables, 0 columns, folded from 0 stores'
    """
    cols = sum(len(t.columns) for t in plan.tables)
    stores = len({s.store for t in plan.tables for s in t.sources})
    return (
        f"Unified schema with {_plural(len(plan.tables), 'table')}, {_plural(cols, 'column')},"
        f" folded from {_plural(stores, 'store')}"
    )

"""Render a plan as SQL DDL (``unified.sql``): tables, indexes, views, triggers.

Every identifier goes through :func:`quote`. Tables come in foreign-key dependency order, so
the script also suits databases that check references at CREATE time. The neutral types map
to SQLite type names chosen for their *affinity*. PostgreSQL has its own renderer
(:mod:`dbfold.design.pg_render`), which ``dialect="postgres"`` hands over to.
"""

from __future__ import annotations

import sqlglot
from sqlglot.errors import SqlglotError

from dbfold.design import collations
from dbfold.design.coltypes import normalize_declared
from dbfold.errors import DesignError
from dbfold.plan import Plan, PlanColumn, PlanIndex, PlanTable
from dbfold.quoting import literal, quote

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


#: SQLite's affinity of each type name rendered for a neutral type (sqlite.org/datatype3.html).
_RENDERED_AFFINITY = {
    "INTEGER": "INTEGER",
    "REAL": "REAL",
    "TEXT": "TEXT",
    "BLOB": "BLOB",
    "BOOLEAN": "NUMERIC",
    "TIMESTAMP": "NUMERIC",
    "NUMERIC": "NUMERIC",
    "": "BLOB",
}


def affinity(declared: str) -> str:
    """The affinity SQLite gives a declared type, by its rules in their order (§3.1).

    >>> [affinity(t) for t in ("integer auto_increment", "VARCHAR(9)", "JSON", "", "FLOAT POINT")]
    ['INTEGER', 'TEXT', 'NUMERIC', 'BLOB', 'INTEGER']
    """
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "TEXT"
    if "BLOB" in t or not t.strip():
        return "BLOB"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "REAL"
    return "NUMERIC"


def is_rowid_declared(col: PlanColumn) -> bool:
    """Whether a key column may be the rowid: SQLite makes an alias only of a column whose
    declared type is exactly ``INTEGER`` (any case); ``INT``, ``BIGINT`` or ``integer
    auto_increment`` keys are ordinary columns that may hold NULL and non-integers. A column
    with no declared type (JSON records, generated keys) is dbfold's own, so it may be."""
    return col.declared is None or col.declared.strip().upper() == "INTEGER"


def column_type(col: PlanColumn, dialect: str = "sqlite") -> str:
    """The dialect's type name for a plan column (unknown types fall back to the blob type).

    On SQLite a column whose neutral type is the one its declared type gives keeps the
    declared type's *affinity*, so the target converts (or keeps) values exactly as the
    source did: a ``JSON`` column is NUMERIC there, not TEXT.
    """
    types = DIALECTS[dialect]
    if dialect == "sqlite" and col.type == "blob" and col.declared is None:
        return ""  # no declared type: no affinity, values stay exactly as stored
    name = types.get(col.type, types["blob"])
    if dialect == "sqlite" and col.declared is not None and _derived(col):
        want = affinity(col.declared)
        if _RENDERED_AFFINITY.get(name) != want:
            return {"BLOB": "BLOB" if col.declared.strip() else ""}.get(want, want)
    return name


def _derived(col: PlanColumn) -> bool:
    """Whether the column's type is still what its declared type gives (no edit changed it)."""
    assert col.declared is not None
    return normalize_declared(col.declared) == col.type


def _bare_word(tree: object) -> str | None:
    """The name of a bare identifier (quoted or not), which a DEFAULT reads as a string."""
    if (
        isinstance(tree, sqlglot.exp.Column)
        and not tree.table
        and isinstance(tree.this, sqlglot.exp.Identifier)
    ):
        return str(tree.this.this)
    return None


def default_sql(expr: str) -> str:
    """A column default as SQL, as SQLite evaluates it; raise DesignError if it is not SQL.

    SQLite reads a bare identifier after DEFAULT (``""``, ``"a""b"``, ``abc``, ``[x]``) as a
    string literal, but the same token inside parentheses as a column name, which a default
    may not name ("default value … is not constant"): so a bare word becomes a single-quoted
    string. Literals (numbers, strings, blobs, signed numbers, NULL, TRUE, CURRENT_*) stay
    bare; any other expression is parenthesised.

    >>> default_sql("0"), default_sql("'x'"), default_sql("datetime('now')")
    ('0', "'x'", "(DATETIME('now'))")
    >>> default_sql('""'), default_sql('"a b"'), default_sql("X'00ff'"), default_sql("-1")
    ("''", "'a b'", "X'00ff'", '-1')
    """
    try:
        tree = sqlglot.parse_one(expr, read="sqlite")
    except SqlglotError as exc:
        raise DesignError(f"default {expr!r} is not a SQL expression") from exc
    if tree is None:
        raise DesignError(f"default {expr!r} is not a SQL expression")
    word = _bare_word(tree)
    if word is not None and word.upper() not in ("TRUE", "FALSE"):
        return literal(word)
    if isinstance(tree, sqlglot.exp.HexString):
        return f"X'{tree.this}'"
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


def carried_default(expr: str | None) -> str | None:
    """A source default as the plan carries it: the SQL :func:`default_sql` renders, or the
    text unchanged when it is not SQL (the plan check then names it)."""
    if expr is None:
        return None
    try:
        return default_sql(expr)
    except DesignError:
        return expr


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
    """The table's key column if it is SQLite's rowid: one integer NOT NULL column, declared
    exactly ``INTEGER`` where it came from a SQLite source (see :func:`is_rowid_declared`),
    else None. A key the plan lets be NULL cannot be the rowid, whose NULLs SQLite renumbers
    (so ``INTEGER PRIMARY KEY DESC``, a rowid-table key SQLite does not alias, stays a key).
    """
    if len(table.primary_key) != 1:
        return None
    col = table.column(table.primary_key[0])
    if col is None or col.type != "integer" or col.nullable or not is_rowid_declared(col):
        return None
    return col


def autoincrement_key(table: PlanTable) -> PlanColumn | None:
    """The key column that is rendered ``AUTOINCREMENT`` (SQLite), or None."""
    return integer_key(table) if table.autoincrement else None


def _sole_key(table: PlanTable, col: PlanColumn) -> bool:
    return len(table.primary_key) == 1 and table.primary_key[0].casefold() == col.name.casefold()


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
        elif typ == "INTEGER" and dialect == "sqlite" and _sole_key(table, col):
            # Not the rowid in the source: "INT" keeps integer affinity without the alias
            # (whose NULLs would be renumbered and whose text keys would be refused).
            typ = "INT"
        if typ:
            parts.append(typ)
        if col.collation is not None and dialect == "sqlite":
            parts.append(f"COLLATE {collations.sql(col.collation)}")
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


def create_index(
    table: str, ix: PlanIndex, dialect: str = "sqlite", *, if_not_exists: bool = False
) -> str:
    """The CREATE INDEX statement of one plan index (its collations on SQLite).

    Key expressions and a partial index's predicate are SQLite SQL in the plan, written as
    they are (PostgreSQL has its own renderer, :func:`dbfold.design.pg_render.index_sqls`).

    >>> create_index("t", PlanIndex("ix", ("a", "b"), collations={"b": "NOCASE"}))
    'CREATE INDEX "ix" ON "t" ("a", "b" COLLATE NOCASE);'
    >>> create_index("t", PlanIndex("ix", ("e",), True, expressions=('lower("e")',),
    ...                             where='"gone" = 0'))
    'CREATE UNIQUE INDEX "ix" ON "t" (lower("e")) WHERE "gone" = 0;'
    """
    unique = "UNIQUE " if ix.unique else ""
    colls = {c.casefold(): v for c, v in ix.collations.items()} if dialect == "sqlite" else {}
    if ix.expressions:
        cols = ", ".join(ix.expressions)
    else:
        cols = ", ".join(
            quote(c)
            + (f" COLLATE {collations.sql(colls[c.casefold()])}" if c.casefold() in colls else "")
            for c in ix.columns
        )
    exists = "IF NOT EXISTS " if if_not_exists else ""
    where = f" WHERE {ix.where}" if ix.where is not None else ""
    return f"CREATE {unique}INDEX {exists}{quote(ix.name)} ON {quote(table)} ({cols}){where};"


def render_sql(plan: Plan, dialect: str = "sqlite") -> str:
    """Render the whole plan as one SQL script (``unified.sql``).

    Args:
        plan: the plan to render.
        dialect: ``sqlite`` (default) or ``postgres``
            (:func:`dbfold.design.pg_render.render_postgres`, in the plan's schema).

    Raises:
        DesignError: an unknown dialect, or a default that is not a SQL expression.
    """
    if dialect not in DIALECTS:
        raise DesignError(f"unknown SQL dialect {dialect!r}; use one of {sorted(DIALECTS)}")
    if dialect == "postgres":
        # Imported here: pg_render builds on this module's key and order helpers.
        from dbfold.design.pg_render import render_postgres

        return render_postgres(plan, plan.schema)
    out = [f"-- unified schema ({plan.format}), generated by dbfold design; edit plan.json"]
    out.append("")
    for table in table_order(plan):
        out.append(create_table(table, dialect))
        out.append("")
    for table in plan.tables:
        for ix in table.indexes:
            out.append(create_index(table.name, ix, dialect))
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

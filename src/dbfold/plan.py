"""The plan: the unified schema as data (``.dbfold/plan.json``, format ``dbfold.plan/1``).

The plan is the one file a user edits. Everything after ``design`` (``unified.sql``, the
generated code, the migration, the adapters) is derived from it, so every fact those stages
need is spelled out here rather than recomputed from the analysis.

Column types are dialect-neutral (:data:`NEUTRAL_TYPES`); a renderer maps them to a dialect.
A source's ``columns`` map goes from a *source path* to a target column. A path is a field
name, or for nested JSON objects the field names joined by ``.`` (``meta.author``); a literal
``.`` or ``\\`` inside a field name is escaped with a backslash (:func:`join_path`).

>>> t = PlanTable(name="users", columns=(PlanColumn(name="id", type="integer"),))
>>> Plan.from_json(Plan(tables=(t,)).to_json()) == Plan(tables=(t,))
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from dbfold.model import Serializable

PLAN_FORMAT = "dbfold.plan/1"
DEFAULT_TARGET = "data/unified.db"

#: The dialect-neutral column types a plan may use.
NEUTRAL_TYPES = ("integer", "real", "text", "blob", "boolean", "timestamp", "json", "numeric")


@dataclass(frozen=True)
class PlanColumn(Serializable):
    """A column of a unified table.

    ``declared`` is the source's declared type where there was one (SQLite), so a reader can
    see what the neutral ``type`` came from; ``note`` says anything unusual (mixed values,
    values that disagree with the declared type). ``collation`` is the SQLite collation the
    column compares text with when it is not BINARY (``NOCASE``, ``RTRIM``); the key is
    written only when set, so plans from before it existed read and write unchanged.
    ``pg_type`` is the PostgreSQL type design chose for a PostgreSQL target (from the values
    it saw; the user may edit it); None means the mapping of the neutral ``type``. It too is
    written only when set, so plans for SQLite targets do not change.
    """

    name: str
    type: str
    nullable: bool = True
    primary_key: bool = False
    default: str | None = None
    declared: str | None = None
    note: str | None = None
    collation: str | None = None
    pg_type: str | None = None

    OMIT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"collation", "pg_type"})


@dataclass(frozen=True)
class PlanForeignKey(Serializable):
    """A foreign key between unified tables (target names, not source names)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"


@dataclass(frozen=True)
class PlanIndex(Serializable):
    """An index of a unified table; ``note`` says where it came from.

    ``collations`` maps a column to the collation the index compares it with where that is
    not the column's own (``CREATE INDEX … (name COLLATE NOCASE)``); written only when set.

    ``where`` is the predicate of a partial index and ``expressions`` the key of an index
    with an expression in it (``lower("email")``): every key term in order, a plain column
    as its quoted name, any collation inside the term. Both are SQLite SQL over the table's
    own column names; a renderer translates them for its dialect. ``columns`` then lists the
    columns the key terms read, so what asks which columns an index covers still gets an
    answer. Both are written only when set, so plans without them read and write unchanged.

    >>> ix = PlanIndex("ix", ("email",), expressions=('lower("email")',), where='"gone" = 0')
    >>> ix.renamed("email", "mail").expressions, ix.renamed("gone", "deleted").where
    (('LOWER("mail")',), '"deleted" = 0')
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    note: str | None = None
    collations: Mapping[str, str] = field(default_factory=dict)
    where: str | None = None
    expressions: tuple[str, ...] = ()

    OMIT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"collations", "where", "expressions"})

    def renamed(self, old: str, new: str) -> PlanIndex:
        """This index with column ``old`` (any case) called ``new`` in its columns,
        collations, key expressions and predicate. SQL that does not parse is left as it is
        (``design --check`` reports it)."""
        from dbfold.indexsql import IndexSqlError, rename_columns

        low = old.casefold()

        def col(n: str) -> str:
            return new if n.casefold() == low else n

        def sql(text: str) -> str:
            try:
                done = rename_columns(text, {old: new})
            except IndexSqlError:
                return text
            # Only a rename that touched something rewrites the text (and its quoting).
            return done if done != rename_columns(text, {}) else text

        return replace(
            self,
            columns=tuple(col(c) for c in self.columns),
            collations={col(c): v for c, v in self.collations.items()},
            where=None if self.where is None else sql(self.where),
            expressions=tuple(sql(e) for e in self.expressions),
        )


@dataclass(frozen=True)
class Source(Serializable):
    """Where the rows of a unified table come from: one table (or record set) of one store.

    ``columns`` maps source paths to target columns. Merged tables name the ``discriminator``
    column and the ``value`` that marks this source's rows. A child table made from an array
    of records names the ``array`` path inside each parent record, the ``parent_column`` that
    holds the parent's key and the ``position_column`` that holds the element's index.
    ``surrogate`` names a target column that the migration fills with a row number (1-based,
    in source order) because the source has no key of its own.
    """

    store: str
    table: str
    columns: Mapping[str, str] = field(default_factory=dict)
    discriminator: str | None = None
    value: str | None = None
    array: str | None = None
    parent_column: str | None = None
    position_column: str | None = None
    surrogate: str | None = None


@dataclass(frozen=True)
class PlanTable(Serializable):
    """A table of the unified database and the sources that fill it.

    ``autoincrement`` keeps a SQLite source's ``INTEGER PRIMARY KEY AUTOINCREMENT``: the
    key is declared ``AUTOINCREMENT`` in the unified table too, so a deleted highest key is
    never handed out again. Only a table keyed by one integer column honours it (design sets
    it only for a table filled from one such source; merged tables emulate it per source).
    """

    name: str
    columns: tuple[PlanColumn, ...] = ()
    primary_key: tuple[str, ...] = ()
    autoincrement: bool = False
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[PlanForeignKey, ...] = ()
    indexes: tuple[PlanIndex, ...] = ()
    sources: tuple[Source, ...] = ()

    def column(self, name: str) -> PlanColumn | None:
        """Return the column called ``name`` (compared case-insensitively), or None."""
        low = name.casefold()
        return next((c for c in self.columns if c.name.casefold() == low), None)


@dataclass(frozen=True)
class PlanView(Serializable):
    """A view or trigger carried over from a SQLite source, its SQL rewritten to target names."""

    name: str
    sql: str
    store: str
    source_name: str


@dataclass(frozen=True)
class Exclusion(Serializable):
    """Something of a source that the plan does not carry over, and why.

    ``kind`` is ``table``, ``column``, ``view`` or ``trigger``; ``column`` is set for a
    column exclusion. ``by`` is ``design`` for exclusions the rules made and ``user`` for
    those written by hand, so a re-run of ``design`` knows which to keep.
    """

    store: str
    table: str
    reason: str
    kind: str = "table"
    column: str | None = None
    by: str = "user"


@dataclass(frozen=True)
class Decision(Serializable):
    """What a rule decided and why, in words a person reads in the report."""

    rule: str
    subject: str
    text: str


@dataclass(frozen=True)
class Suggestion(Serializable):
    """An optional change the user may accept by setting ``accepted`` to true.

    The only kind so far is ``foreign_key``: ``table.columns`` → ``ref_table.ref_columns``.
    """

    id: str
    kind: str
    text: str
    accepted: bool = False
    table: str = ""
    columns: tuple[str, ...] = ()
    ref_table: str = ""
    ref_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan(Serializable):
    """The unified schema and how to fill it: the content of ``plan.json``.

    ``schema`` is the PostgreSQL schema the unified tables live in (a PostgreSQL target
    only); written only when it is not ``public``, so other plans do not change.
    """

    format: str = PLAN_FORMAT
    target: str = DEFAULT_TARGET
    schema: str = "public"
    tables: tuple[PlanTable, ...] = ()
    views: tuple[PlanView, ...] = ()
    triggers: tuple[PlanView, ...] = ()
    excluded: tuple[Exclusion, ...] = ()
    decisions: tuple[Decision, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    notes: tuple[str, ...] = ()

    OMIT_DEFAULT: ClassVar[frozenset[str]] = frozenset({"schema"})

    def table(self, name: str) -> PlanTable | None:
        """Return the table called ``name`` (compared case-insensitively), or None."""
        low = name.casefold()
        return next((t for t in self.tables if t.name.casefold() == low), None)

    @property
    def stores(self) -> tuple[str, ...]:
        """Every store path the plan reads from (sources and exclusions), in first-seen order."""
        seen = dict.fromkeys(
            [s.store for t in self.tables for s in t.sources] + [e.store for e in self.excluded]
        )
        return tuple(seen)


def escape_key(key: str) -> str:
    r"""Escape one field name for use inside a source path.

    >>> escape_key("a.b"), escape_key("plain")
    ('a\\.b', 'plain')
    """
    return key.replace("\\", "\\\\").replace(".", "\\.")


def join_path(*keys: str) -> str:
    r"""Join field names into a source path.

    >>> join_path("meta", "author"), join_path("v1.2", "x")
    ('meta.author', 'v1\\.2.x')
    """
    return ".".join(escape_key(k) for k in keys)


def split_path(path: str) -> tuple[str, ...]:
    r"""Split a source path into field names; the inverse of :func:`join_path`.

    >>> split_path("meta.author"), split_path(r"v1\.2.x")
    (('meta', 'author'), ('v1.2', 'x'))
    """
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(path):
        ch = path[i]
        if ch == "\\" and i + 1 < len(path):
            cur.append(path[i + 1])
            i += 2
            continue
        if ch == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return tuple(parts)


def _renamed_sql(
    sql: str,
    plan: Plan,
    table: str,
    new: str,
    column: str | None = None,
) -> str:
    """``sql`` with table ``table`` (or its ``column``) renamed to ``new``, by sqlglot.

    Identifiers are renamed in the parsed tree, never by string replacement, so a word in a
    literal or a longer name that contains the old one is left alone. SQL that sqlglot cannot
    parse is returned unchanged (check reports what it still names).
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except SqlglotError:
        return sql
    low = table.casefold()
    own = tree.this if isinstance(tree, exp.Create) else None
    own_table = own if isinstance(own, exp.Table) else own.find(exp.Table) if own else None
    changed = False
    if column is None:
        aliased = {
            t.alias.casefold() for t in tree.find_all(exp.Table) if t.alias and t is not own_table
        }
        for t in list(tree.find_all(exp.Table)):
            if t is not own_table and t.name.casefold() == low:
                t.set("this", exp.to_identifier(new, quoted=True))
                changed = True
        for c in list(tree.find_all(exp.Column)):
            if c.table and c.table.casefold() == low and low not in aliased:
                c.set("table", exp.to_identifier(new, quoted=True))
                changed = True
        return tree.sql(dialect="sqlite") if changed else sql
    col_low = column.casefold()
    for c in list(tree.find_all(exp.Column)):
        if c.name.casefold() != col_low:
            continue
        select = c.find_ancestor(exp.Select)
        scope = (
            [t for t in select.find_all(exp.Table) if t.find_ancestor(exp.Select) is select]
            if select is not None
            else []
        )
        if c.table:
            names = {t.alias_or_name.casefold(): t.name.casefold() for t in scope}
            ours = names.get(c.table.casefold(), c.table.casefold()) == low
        else:
            # Unqualified: ours when no other table of the same SELECT has such a column.
            others = [plan.table(t.name) for t in scope if t.name.casefold() != low]
            ours = any(t.name.casefold() == low for t in scope) and not any(
                o is not None and o.column(column) is not None for o in others
            )
        if ours:
            renamed = c.copy()
            renamed.set("this", exp.to_identifier(new, quoted=True))
            if select is not None and c.parent is select:
                # A selected column keeps its old name as an alias, so the view's own
                # columns (what its readers see) stay as they were.
                c.replace(exp.alias_(renamed, column, quoted=True))
            else:
                c.replace(renamed)
            changed = True
    return tree.sql(dialect="sqlite") if changed else sql


#: A step of :func:`renamed_trigger_sql`: (table, new name) renames the table, (table, new
#: name, column) renames its column.
RenameStep = tuple[str, str, "str | None"]


def renamed_trigger_sql(
    sql: str,
    tables: Mapping[str, Sequence[str]],
    steps: Sequence[RenameStep],
    views: Sequence[str] = (),
) -> list[str | None]:
    """A trigger's SQL after each of ``steps``, rewritten by SQLite itself.

    sqlglot cannot parse trigger bodies; SQLite's ``ALTER TABLE … RENAME`` rewrites every
    reference in them (the ``ON`` table, ``INSERT INTO``/``UPDATE``/``FROM`` targets,
    ``new.``/``old.`` columns, aliases) and leaves the rest of the text as written. The
    trigger is created in a private in-memory database over ``tables`` (name → column
    names, the schema the trigger is written against) and ``views`` (their SQL, each kept
    only if it can be created); the steps run in order and the trigger's SQL is read back
    after each. A step SQLite refuses (the trigger names something the schema lacks) gives
    None and changes nothing; so does every step when the trigger cannot be created, or on
    SQLite older than 3.26, whose renames do not reach trigger bodies.

    >>> renamed_trigger_sql(
    ...     "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (new.x); END",
    ...     {"a": ["x"], "b": ["y"]},
    ...     [("a", "x2", "x"), ("b", "b2", None)],
    ... )[-1]
    'CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO "b2" VALUES (new."x2"); END'
    """
    import sqlite3

    from dbfold.quoting import quote

    out: list[str | None] = [None] * len(steps)
    if sqlite3.sqlite_version_info < (3, 26, 0) or "\x00" in sql:
        return out
    con = sqlite3.connect(":memory:")
    try:
        con.execute("PRAGMA legacy_alter_table = OFF")
        for name, cols in tables.items():
            body = ", ".join(quote(c) for c in cols) or quote("dbfold_no_column")
            con.execute(f"CREATE TABLE {quote(name)} ({body})")
        for view in views:
            try:
                con.execute(view)
            except (sqlite3.Error, ValueError):
                continue  # a view that cannot be made is one the trigger cannot need
        con.execute(sql)
        now = sql
        for i, (table, new, column) in enumerate(steps):
            if column is None:
                alter = f"ALTER TABLE {quote(table)} RENAME TO {quote(new)}"
            else:
                alter = f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(column)} TO {quote(new)}"
            try:
                con.execute(alter)
            except (sqlite3.Error, ValueError):
                continue  # refused: nothing changed
            rows = con.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
            now = str(rows[0][0]) if len(rows) == 1 else now
            out[i] = now
    except (sqlite3.Error, ValueError):
        return [None] * len(steps)
    finally:
        con.close()
    return out


def names_in(sql: str) -> set[str]:
    """Every word of ``sql`` outside string literals, casefolded (quoted names unquoted).

    A trigger that names a table has it among these; so may one that only uses the word for
    a column, which is why this only finds the triggers to look at, never rewrites them.

    >>> sorted(names_in("INSERT INTO [a b] VALUES ('c', X)"))
    ['(', ')', ',', 'a b', 'insert', 'into', 'values', 'x']
    """
    import sqlglot
    from sqlglot.errors import SqlglotError
    from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

    try:
        tokens = sqlglot.tokenize(sql, read="sqlite")
    except SqlglotError:
        return set()
    return {t.text.casefold() for t in tokens if t.token_type != TokenType.STRING}


def _plan_schema(plan: Plan, table: str, old: str, new: str | None = None) -> dict[str, list[str]]:
    """The plan's tables as a trigger was written against them, before one rename.

    ``new`` None: table ``old`` may already be called ``table`` (the user renamed it in
    plan.json), and is given back its old name. Otherwise column ``old`` of ``table`` may
    already be called ``new``.
    """
    out: dict[str, list[str]] = {}
    if new is None:
        had = plan.table(old) is not None
        for t in plan.tables:
            name = old if not had and t.name.casefold() == table.casefold() else t.name
            out[name] = [c.name for c in t.columns]
        return out
    for t in plan.tables:
        cols = [c.name for c in t.columns]
        if t.name.casefold() == table.casefold() and t.column(old) is None:
            cols = [old if c.casefold() == new.casefold() else c for c in cols]
        out[t.name] = cols
    return out


def _renamed_triggers(
    plan: Plan, steps: Sequence[RenameStep], schema: Mapping[str, Sequence[str]]
) -> tuple[PlanView, ...]:
    views = [v.sql for v in plan.views]
    out = []
    for trig in plan.triggers:
        done = renamed_trigger_sql(trig.sql, schema, steps, views)
        sql = done[-1] if done and None not in done else None
        out.append(trig if sql is None or sql == trig.sql else replace(trig, sql=sql))
    return tuple(out)


def _fk_id(s: Suggestion) -> str:
    """The id design gives a foreign-key suggestion (see ``rules.suggest``)."""
    return f"fk:{s.table}.{','.join(s.columns)}->{s.ref_table}.{','.join(s.ref_columns)}"


def _with_id(before: Suggestion, after: Suggestion) -> Suggestion:
    """``after`` with its id recomputed when ``before`` had the id design computes."""
    return replace(after, id=_fk_id(after)) if before.id == _fk_id(before) else after


def rename_table(plan: Plan, old: str, new: str) -> Plan:
    """A copy of ``plan`` with table ``old`` called ``new`` and every reference carried along.

    References are compared case-insensitively, as SQLite does: foreign keys of every table,
    suggestions (their tables and design-made ids), the SQL of views (by sqlglot) and of
    triggers (by SQLite, see :func:`renamed_trigger_sql`; one SQLite cannot rewrite is left
    as it is).
    """
    low = old.casefold()

    def name(n: str) -> str:
        return new if n.casefold() == low else n

    tables = tuple(
        replace(
            t,
            name=name(t.name),
            foreign_keys=tuple(replace(fk, ref_table=name(fk.ref_table)) for fk in t.foreign_keys),
        )
        for t in plan.tables
    )
    suggestions = tuple(
        _with_id(s, replace(s, table=name(s.table), ref_table=name(s.ref_table)))
        for s in plan.suggestions
    )
    views = tuple(replace(v, sql=_renamed_sql(v.sql, plan, old, new)) for v in plan.views)
    triggers = _renamed_triggers(plan, [(old, new, None)], _plan_schema(plan, new, old))
    return replace(plan, tables=tables, suggestions=suggestions, views=views, triggers=triggers)


def rename_column(plan: Plan, table: str, old: str, new: str) -> Plan:
    """A copy of ``plan`` with column ``old`` of ``table`` called ``new``, references carried.

    Inside the table: its column, key, unique groups, indexes (their predicates and key
    expressions too, by sqlglot), foreign-key columns, source column maps and generated
    columns (discriminator, parent, position, surrogate). Outside: other tables' foreign
    keys to it, suggestions and the SQL of views (by sqlglot) and of triggers (by SQLite).
    """
    tlow, low = table.casefold(), old.casefold()

    def col(n: str) -> str:
        return new if n.casefold() == low else n

    def cols(ns: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(col(n) for n in ns)

    def opt(n: str | None) -> str | None:
        return None if n is None else col(n)

    tables: list[PlanTable] = []
    for t in plan.tables:
        if t.name.casefold() == tlow:
            t = replace(
                t,
                columns=tuple(replace(c, name=col(c.name)) for c in t.columns),
                primary_key=cols(t.primary_key),
                unique=tuple(cols(u) for u in t.unique),
                indexes=tuple(ix.renamed(old, new) for ix in t.indexes),
                foreign_keys=tuple(replace(fk, columns=cols(fk.columns)) for fk in t.foreign_keys),
                sources=tuple(
                    replace(
                        s,
                        columns={p: col(c) for p, c in s.columns.items()},
                        discriminator=opt(s.discriminator),
                        parent_column=opt(s.parent_column),
                        position_column=opt(s.position_column),
                        surrogate=opt(s.surrogate),
                    )
                    for s in t.sources
                ),
            )
        t = replace(
            t,
            foreign_keys=tuple(
                replace(fk, ref_columns=cols(fk.ref_columns))
                if fk.ref_table.casefold() == tlow
                else fk
                for fk in t.foreign_keys
            ),
        )
        tables.append(t)
    suggestions = tuple(
        _with_id(
            s,
            replace(
                s,
                columns=cols(s.columns) if s.table.casefold() == tlow else s.columns,
                ref_columns=cols(s.ref_columns)
                if s.ref_table.casefold() == tlow
                else s.ref_columns,
            ),
        )
        for s in plan.suggestions
    )
    views = tuple(replace(v, sql=_renamed_sql(v.sql, plan, table, new, old)) for v in plan.views)
    schema = _plan_schema(plan, table, old, new)
    triggers = _renamed_triggers(plan, [(table, new, old)], schema)
    return replace(
        plan, tables=tuple(tables), suggestions=suggestions, views=views, triggers=triggers
    )

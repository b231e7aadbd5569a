"""SQL of index predicates and key expressions: read, list the columns named, rename them.

A partial index's ``WHERE`` and an expression index's key terms travel from the analysis
(source column names) through the plan (target column names) to two dialects. They are
handled as parsed sqlglot trees (dialect ``sqlite``), never as strings, so a word inside a
literal or a longer name that contains a column's name is never touched. A leaf helper, like
:mod:`dbfold.quoting`: scan, plan and design all use it.

>>> rename_columns('lower(email) || "e"', {"email": "mail", "e": "x"})
'LOWER("mail") || "x"'
>>> column_names("deleted = 0 AND 'deleted' <> owner")
('deleted', 'owner')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

__all__ = [
    "IndexSqlError",
    "column_names",
    "index_parts",
    "parse_term",
    "quoted_column",
    "rename_columns",
]


class IndexSqlError(ValueError):
    """A predicate or key term that does not parse as one SQLite expression."""


def parse_term(sql: str) -> exp.Expression:
    """One SQLite expression (a predicate or an index key term), parsed.

    Raises:
        IndexSqlError: it is empty, does not parse, or is more than one expression.
    """
    if not sql.strip():
        raise IndexSqlError("an empty expression")
    try:
        # ``into`` makes a statement (SELECT, a second one after ``;``) a parse error.
        tree = cast(exp.Expression, sqlglot.parse_one(sql, read="sqlite", into=exp.Condition))
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IndexSqlError(f"{sql!r} is not a SQL expression ({first})") from None
    if tree is None or isinstance(tree, exp.Command) or tree.find(exp.Query) is not None:
        # SQLite refuses subqueries in an index, so one here is an edit gone wrong.
        raise IndexSqlError(f"{sql!r} is not a SQL expression without subqueries")
    return tree


def quoted_column(name: str) -> str:
    """A column reference as an index key term (SQLite SQL).

    >>> quoted_column('we"ird')
    '"we""ird"'
    """
    return exp.column(exp.to_identifier(name, quoted=True)).sql(dialect="sqlite")


def column_names(sql: str) -> tuple[str, ...]:
    """The columns ``sql`` names, in first-seen order (each once, as written).

    Raises:
        IndexSqlError: ``sql`` does not parse.
    """
    seen: dict[str, str] = {}
    for col in parse_term(sql).find_all(exp.Column):
        seen.setdefault(col.name.casefold(), col.name)
    return tuple(seen.values())


def rename_columns(sql: str, names: Mapping[str, str] | Callable[[str], str | None]) -> str:
    """``sql`` with every column reference renamed and quoted (SQLite SQL).

    ``names`` maps an old name (compared case-insensitively) to the new one, or is a function
    that gives the new name (None: keep the old one). Table qualifiers are dropped: an index's
    predicate and keys can only name columns of its own table.

    Raises:
        IndexSqlError: ``sql`` does not parse.
    """
    if callable(names):
        rename = names
    else:
        low = {k.casefold(): v for k, v in names.items()}

        def rename(name: str) -> str | None:
            return low.get(name.casefold())

    tree = parse_term(sql)
    for col in list(tree.find_all(exp.Column)):
        new = rename(col.name)
        col.replace(exp.column(exp.to_identifier(new or col.name, quoted=True)))
    return tree.sql(dialect="sqlite")


def index_parts(sql: str | None) -> tuple[str | None, tuple[str, ...]] | None:
    """The predicate and key terms of a ``CREATE INDEX`` statement, as SQLite SQL.

    Returns None when the statement cannot be parsed (the caller then knows neither).

    >>> index_parts('CREATE INDEX i ON t (a, lower("b")) WHERE c IS NOT NULL')
    ('NOT c IS NULL', ('a', 'LOWER("b")'))
    """
    if not sql:
        return None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except SqlglotError:
        return None
    index = tree.this if isinstance(tree, exp.Create) else None
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    if not isinstance(params, exp.IndexParameters):
        return None
    terms = []
    for term in params.args.get("columns") or []:
        # ASC/DESC is dropped, as for plain columns: a B-tree serves both directions.
        body = term.this if isinstance(term, exp.Ordered) else term
        terms.append(body.sql(dialect="sqlite"))
    where = params.args.get("where")
    pred = where.this.sql(dialect="sqlite") if isinstance(where, exp.Where) else None
    return pred, tuple(terms)

"""Table names in the SQL string literals of a piece of code (parsed with sqlglot)."""

from __future__ import annotations

import ast
import functools
import logging
import re
from collections.abc import Iterable, Iterator

import sqlglot
from sqlglot import exp

# Only strings that start like a statement are parsed: prose and identifiers never are.
_SQL_START = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|REPLACE|WITH|ALTER|DROP)\b", re.IGNORECASE
)
# ...and must hold the clause its statement needs, so that prose such as "Update the
# dashboard" or "Delete me" is not mistaken for SQL (sqlglot accepts a lot).
_SQL_CLAUSE = {
    "SELECT": re.compile(r"\bFROM\b", re.IGNORECASE),
    "INSERT": re.compile(r"\bINTO\b", re.IGNORECASE),
    "REPLACE": re.compile(r"\bINTO\b", re.IGNORECASE),
    "UPDATE": re.compile(r"\bSET\b", re.IGNORECASE),
    "DELETE": re.compile(r"\bFROM\b", re.IGNORECASE),
    "WITH": re.compile(r"\bAS\s*\(", re.IGNORECASE),
}
_DDL_CLAUSE = re.compile(r"\b(TABLE|INDEX|VIEW|TRIGGER)\b", re.IGNORECASE)
_REPLACE = re.compile(r"^\s*REPLACE\b", re.IGNORECASE)
_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def looks_like_sql(text: str) -> bool:
    """Whether ``text`` starts with a SQL statement keyword and has the clause it needs.

    >>> looks_like_sql("  select * from t"), looks_like_sql("Update the dashboard")
    (True, False)
    """
    m = _SQL_START.match(text)
    if m is None:
        return False
    clause = _SQL_CLAUSE.get(m.group(1).upper(), _DDL_CLAUSE)
    return clause.search(text, m.end()) is not None


@functools.lru_cache(maxsize=4096)
def sql_tables(text: str) -> tuple[str, ...]:
    """Tables named by the SQL in ``text``, sorted, CTE names excluded.

    Text that does not start like SQL or does not parse gives ``()``.

    >>> sql_tables("WITH r AS (SELECT * FROM jobs) SELECT * FROM r JOIN runs USING (id)")
    ('jobs', 'runs')
    """
    if not looks_like_sql(text):
        return ()
    logger = logging.getLogger("sqlglot")
    level = logger.level
    # sqlglot logs a warning for statements it only half understands; the scan must stay
    # quiet about the user's SQL, so those are silenced for the duration of the parse.
    logger.setLevel(logging.ERROR)
    try:
        # SQLite's bare ``REPLACE INTO`` is ``INSERT OR REPLACE INTO`` (sqlglot knows the latter).
        statements = sqlglot.parse(_REPLACE.sub("INSERT OR REPLACE", text, count=1), read="sqlite")
    except Exception:  # sqlglot raises more than ParseError on odd input; all mean "not SQL"
        return ()
    finally:
        logger.setLevel(level)
    names: dict[str, None] = {}
    for statement in statements:
        if statement is None:
            continue
        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            name = table.name
            if name and name not in ctes and not name.lower().startswith("sqlite_"):
                names[name] = None
    return tuple(sorted(names))


def string_literals(nodes: Iterable[ast.AST]) -> Iterator[str]:
    """String constants under ``nodes``, skipping docstrings and f-string fragments."""
    skip: set[int] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, _DOC_OWNERS) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    skip.add(id(first.value))
            elif isinstance(node, ast.JoinedStr):
                skip.update(id(v) for v in node.values)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                yield node.value


def tables_in(nodes: Iterable[ast.AST]) -> tuple[str, ...]:
    """Tables named by every SQL string literal under ``nodes``, sorted."""
    return tuple(sorted({name for text in string_literals(nodes) for name in sql_tables(text)}))

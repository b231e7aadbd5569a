"""SQL text per engine: the runtime writes SQLite-style SQL once and translates it here.

Every statement the runtime (and the user, through ``execute``/``query``) writes uses ``?``
or ``:name`` placeholders, as sqlite3 does. On PostgreSQL those become psycopg's ``%s`` and
``%(name)s`` (a literal ``%`` doubled), with string literals, quoted identifiers, comments
and dollar-quoted bodies left alone. Translations are cached per statement text, so the hot
path pays one dictionary lookup.

``get_schema()`` is written once for both engines in a small dialect-neutral subset
(``CREATE TABLE``, ``CREATE [UNIQUE] INDEX``, ``CREATE VIEW``); :func:`pg_schema_script`
turns it into PostgreSQL DDL: SQLite's type names become PostgreSQL's (``INTEGER`` →
``bigint``, ``REAL`` → ``double precision``, ``BLOB`` → ``bytea``, ``JSON`` → ``jsonb``)
and an ``INTEGER PRIMARY KEY`` (with or without ``AUTOINCREMENT``) becomes an identity
column. What has no faithful translation (triggers, virtual tables) is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache

from dbfold.errors import SchemaError
from dbfold.runtime.sqltext import parse_create_table, split_statements, tokenize

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# One alternation, scanned left to right: the quoted and commented parts are copied as
# they are; only the last three groups are rewritten.
_PG_SCAN = re.compile(
    r"""
      (?P<keep>'(?:[^']|'')*'
        | "(?:[^"]|"")*"
        | --[^\n]*
        | /\*.*?(?:\*/|\Z)
        | (?P<dollar>\$[A-Za-z_]*\$).*?(?P=dollar)
        | ::)
    | (?P<qmark>\?)
    | :(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<percent>%)
    """,
    re.VERBOSE | re.DOTALL,
)


def _pg_piece(match: re.Match[str]) -> str:
    if match.group("keep") is not None:
        # psycopg reads % everywhere, string literals included.
        return match.group("keep").replace("%", "%%")
    if match.group("qmark") is not None:
        return "%s"
    if match.group("name") is not None:
        return f"%({match.group('name')})s"
    return "%%"


@lru_cache(maxsize=4096)
def to_pg(sql: str) -> str:
    """Translate placeholders from sqlite3's style to psycopg's.

    PostgreSQL's jsonb operators ``?``, ``?|`` and ``?&`` cannot be written (``?`` is always
    a placeholder); use ``jsonb_exists(col, key)`` or containment (``@>``) instead.

    >>> to_pg("SELECT * FROM t WHERE a = ? AND b LIKE 'x?%' AND c = :c AND d::text = '1'")
    "SELECT * FROM t WHERE a = %s AND b LIKE 'x?%%' AND c = %(c)s AND d::text = '1'"
    >>> to_pg("SELECT 5 % 2")
    'SELECT 5 %% 2'
    """
    return _PG_SCAN.sub(_pg_piece, sql)


# SQLite type names (by affinity words) and the PostgreSQL type each becomes.
_EXACT_TYPES = {
    "json": "jsonb",
    "jsonb": "jsonb",
    "integer": "bigint",
    "int": "bigint",
    "bigint": "bigint",
    "smallint": "smallint",
    "tinyint": "smallint",
    "mediumint": "integer",
    "int8": "bigint",
    "int4": "integer",
    "int2": "smallint",
    "real": "double precision",
    "double": "double precision",
    "double precision": "double precision",
    "float": "double precision",
    "blob": "bytea",
    "text": "text",
    "clob": "text",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "datetime": "timestamp",
    "timestamp": "timestamp",
    "numeric": "numeric",
    "decimal": "numeric",
}
# Words that end the type name in a column definition.
_CONSTRAINT_WORDS = frozenset(
    {
        "constraint",
        "primary",
        "not",
        "null",
        "unique",
        "check",
        "default",
        "collate",
        "references",
        "generated",
        "as",
    }
)


def pg_type(declared: str) -> str:
    """The PostgreSQL type for a SQLite declared type (SQLite's affinity rules otherwise).

    >>> pg_type("INTEGER"), pg_type("JSON"), pg_type("VARCHAR(20)"), pg_type("")
    ('bigint', 'jsonb', 'varchar(20)', 'text')
    """
    text = " ".join(declared.lower().split())
    if text in _EXACT_TYPES:
        return _EXACT_TYPES[text]
    base = text.split("(", 1)[0].strip()
    if base in ("varchar", "character varying", "char", "character", "numeric", "decimal"):
        return text.replace(" (", "(")
    # SQLite's affinity rules (datatype3.html §3.1), in its order.
    if "int" in text:
        return "bigint"
    if any(word in text for word in ("char", "clob", "text")) or not text:
        return "text"
    if "blob" in text:
        return "bytea"
    if any(word in text for word in ("real", "floa", "doub")):
        return "double precision"
    return "numeric"


def _pg_column(text: str) -> str:
    """One column definition of CREATE TABLE in PostgreSQL terms."""
    tokens = tokenize(text)
    name = tokens[0].text
    pos = 1
    while (
        pos < len(tokens)
        and not (tokens[pos].kind == "word" and tokens[pos].norm in _CONSTRAINT_WORDS)
        and tokens[pos].text != ","
    ):
        pos += 1
    declared = text[tokens[1].start : tokens[pos - 1].end] if pos > 1 else ""
    rest = text[tokens[pos].start :] if pos < len(tokens) else ""
    words = [t.norm for t in tokens[pos:]]
    rest = re.sub(r"\bautoincrement\b", "", rest, flags=re.IGNORECASE).strip()
    if (
        pg_type(declared) == "bigint"
        and declared.strip().lower() in ("integer", "int")
        and ("primary" in words and "key" in words)
    ):
        # SQLite's rowid alias: ids are generated unless given, as an identity column does.
        return f"{name} bigint GENERATED BY DEFAULT AS IDENTITY {rest}".rstrip()
    return f"{name} {pg_type(declared)} {rest}".rstrip()


def pg_create_table(sql: str) -> str:
    """``CREATE TABLE`` in the neutral subset, rewritten for PostgreSQL.

    >>> pg_create_table("CREATE TABLE t (id INTEGER PRIMARY KEY, d JSON)")
    'CREATE TABLE t (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, d jsonb)'
    """
    table = parse_create_table(sql)
    if table is None:
        return sql
    tokens = tokenize(sql)
    open_at = next(t for t in tokens if t.text == "(" and t.start >= table.name_span[1])
    close_at = max(t.end for t in tokens if t.text == ")")
    parts = [_pg_column(col.text) for col in table.columns]
    # Table constraints are kept as written; their order does not matter to PostgreSQL.
    body = sql[open_at.end : close_at - 1]
    constraints = _table_constraints(body)
    return f"{sql[: open_at.end]}{', '.join(parts + constraints)})"


def _table_constraints(body: str) -> list[str]:
    """The table-constraint parts of a CREATE TABLE body, as written."""
    out: list[str] = []
    depth, start = 0, 0
    pieces: list[str] = []
    scan = tokenize(body)
    for token in scan:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif token.text == "," and depth == 0:
            pieces.append(body[start : token.start])
            start = token.end
    pieces.append(body[start:])
    for piece in pieces:
        words = tokenize(piece)
        if (
            words
            and words[0].kind == "word"
            and words[0].norm
            in (
                "constraint",
                "primary",
                "unique",
                "check",
                "foreign",
            )
        ):
            out.append(piece.strip())
    return out


def pg_ddl(script: str) -> list[str]:
    """The runtime's own DDL for PostgreSQL: CREATE TABLE translated, the rest as written."""
    out = []
    for statement in split_statements(script):
        text = statement.rstrip().rstrip(";")
        words = [t.norm for t in tokenize(text)[:2]]
        out.append(pg_create_table(text) if words == ["create", "table"] else text)
    return out


def pg_schema_script(script: str, owner: str) -> list[str]:
    """Translate a ``get_schema()`` script into PostgreSQL statements, one per item.

    Raises:
        SchemaError: For statements outside the neutral subset (triggers, virtual tables).
    """
    out: list[str] = []
    for statement in split_statements(script):
        words = [t.norm for t in tokenize(statement)[:4]]
        text = statement.rstrip().rstrip(";")
        if words[:2] == ["create", "table"] or words[:3] in (
            ["create", "temp", "table"],
            ["create", "temporary", "table"],
        ):
            table = parse_create_table(text)
            if table is not None and table.options:
                options = table.options.replace("without rowid", "").replace("strict", "")
                if options.strip(" ,"):
                    raise SchemaError(
                        f"{owner}: table options {table.options!r} have no PostgreSQL "
                        "equivalent; remove them"
                    )
                text = text[: text.rfind(")") + 1]
            out.append(pg_create_table(text))
        elif words[:2] in (["create", "index"], ["create", "unique"], ["create", "view"]):
            out.append(text)
        else:
            raise SchemaError(
                f"{owner}: {' '.join(statement.split())[:60]!r} is outside the subset that "
                "runs on both engines (CREATE TABLE, CREATE INDEX, CREATE VIEW); "
                "on PostgreSQL add it with an explicit migration in get_migrations()"
            )
    return out


__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "pg_create_table",
    "pg_ddl",
    "pg_schema_script",
    "pg_type",
    "to_pg",
]

"""Just enough SQL text handling for schema work: tokens, statements, CREATE TABLE parts.

The schema reconciler compares table definitions structurally (column by column, constraint
by constraint) rather than as raw text, because SQLite rewrites the stored ``CREATE TABLE``
text on ``ALTER TABLE … ADD COLUMN`` and users reformat their schema between versions.
Comparisons use a normalized token stream: case-folded words and identifiers, comments and
whitespace dropped, string literals kept exactly.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
    | (?P<word>[A-Za-z_\u0080-\U0010ffff][\w$\u0080-\U0010ffff]*)
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)
    | (?P<op>\|\||<=|>=|==|!=|<>|<<|>>|.)
    """,
    re.VERBOSE | re.DOTALL,
)

_TABLE_CONSTRAINTS = frozenset({"constraint", "primary", "unique", "check", "foreign"})


@dataclass(frozen=True)
class Token:
    """One SQL token: its kind, text and start offset in the source."""

    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        """Offset just past the token."""
        return self.start + len(self.text)

    @property
    def norm(self) -> str:
        """The comparison form: identifiers and words unquoted and lower-cased."""
        if self.kind in ("word", "ident"):
            return unquote(self.text).lower()
        return self.text


def tokenize(sql: str) -> list[Token]:
    """Split SQL into significant tokens (no whitespace, no comments)."""
    out: list[Token] = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "op"
        if kind not in ("ws", "comment"):
            out.append(Token(kind, match.group(), match.start()))
    return out


def unquote(name: str) -> str:
    """Strip SQL identifier quoting: ``"a""b"`` → ``a"b``, ``[x]`` → ``x``, ```x``` → ``x``."""
    if len(name) >= 2:
        first, last = name[0], name[-1]
        if first == last and first in "\"`'":
            return name[1:-1].replace(first * 2, first)
        if first == "[" and last == "]":
            return name[1:-1]
    return name


def normalize(tokens: list[Token]) -> str:
    """Join tokens in their comparison form, so formatting differences compare equal."""
    return " ".join(token.norm for token in tokens)


def normalize_sql(sql: str) -> str:
    """Normalize a whole statement (see :func:`normalize`)."""
    return normalize(tokenize(sql))


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements, trigger bodies kept whole.

    ``sqlite3.complete_statement`` decides where a statement ends, so semicolons inside
    strings, comments and ``CREATE TRIGGER … BEGIN …; END`` do not split.

    >>> split_statements("CREATE TABLE a(x); -- note\\nCREATE TABLE b(y);")
    ['CREATE TABLE a(x);', '-- note\\nCREATE TABLE b(y);']
    """
    statements: list[str] = []
    start = 0
    for token in tokenize(script):
        if token.text == ";" and sqlite3.complete_statement(script[start : token.end]):
            statements.append(script[start : token.end].strip())
            start = token.end
    rest = script[start:]
    if tokenize(rest):
        statements.append(rest.strip())
    return [stmt for stmt in statements if tokenize(stmt) != [Token("op", ";", 0)]]


@dataclass(frozen=True)
class ColumnDef:
    """One column definition inside ``CREATE TABLE``."""

    name: str
    text: str  # the definition as written, name included, for ALTER TABLE ADD COLUMN
    norm: str  # normalized definition without the name, for comparison


@dataclass(frozen=True)
class TableDef:
    """The parts of a ``CREATE TABLE`` statement the reconciler compares."""

    name: str
    name_span: tuple[int, int]  # where the (possibly schema-qualified) name sits in the text
    columns: tuple[ColumnDef, ...]
    constraints: tuple[str, ...]  # normalized table constraints, sorted
    options: str  # normalized trailing options (WITHOUT ROWID, STRICT)

    def column(self, name: str) -> ColumnDef | None:
        """Find a column by name, case-insensitively."""
        lowered = name.lower()
        return next((col for col in self.columns if col.name.lower() == lowered), None)

    @property
    def without_rowid(self) -> bool:
        """Whether the table is declared ``WITHOUT ROWID``."""
        return "without rowid" in self.options


def parse_create_table(sql: str) -> TableDef | None:
    """Parse ``CREATE TABLE name (…) options``; ``None`` for ``CREATE TABLE … AS SELECT``.

    >>> t = parse_create_table('CREATE TABLE "a b"(id INTEGER PRIMARY KEY, "x" TEXT, UNIQUE(x))')
    >>> t.name, [c.name for c in t.columns], t.constraints
    ('a b', ['id', 'x'], ('unique ( x )',))
    """
    tokens = tokenize(sql)
    words = [token.norm for token in tokens]
    pos = 0
    while pos < len(tokens) and words[pos] in ("create", "temp", "temporary", "table"):
        pos += 1
    if words[pos : pos + 3] == ["if", "not", "exists"]:
        pos += 3
    if pos >= len(tokens):
        return None
    name_start = pos
    if pos + 2 < len(tokens) and tokens[pos + 1].text == ".":
        pos += 2  # schema-qualified: main.table
    name_token = tokens[pos]
    pos += 1
    if pos >= len(tokens) or tokens[pos].text != "(":
        return None
    parts: list[list[Token]] = [[]]
    depth = 0
    close = pos
    for close in range(pos + 1, len(tokens)):
        text = tokens[close].text
        if text == "(":
            depth += 1
        elif text == ")":
            if depth == 0:
                break
            depth -= 1
        elif text == "," and depth == 0:
            parts.append([])
            continue
        parts[-1].append(tokens[close])
    columns: list[ColumnDef] = []
    constraints: list[str] = []
    for part in parts:
        if not part:
            continue
        if part[0].kind == "word" and part[0].norm in _TABLE_CONSTRAINTS:
            constraints.append(normalize(part))
        else:
            text = sql[part[0].start : part[-1].end]
            columns.append(ColumnDef(unquote(part[0].text), text, normalize(part[1:])))
    return TableDef(
        name=unquote(name_token.text),
        name_span=(tokens[name_start].start, name_token.end),
        columns=tuple(columns),
        constraints=tuple(sorted(constraints)),
        options=normalize(tokens[close + 1 :]).rstrip(" ;"),
    )


def rename_in_create(sql: str, table: TableDef, new_name: str) -> str:
    """Return the ``CREATE TABLE`` text with the table renamed (for rebuilds)."""
    start, end = table.name_span
    return sql[:start] + new_name + sql[end:]


__all__ = [
    "ColumnDef",
    "TableDef",
    "Token",
    "normalize",
    "normalize_sql",
    "parse_create_table",
    "rename_in_create",
    "split_statements",
    "tokenize",
    "unquote",
]

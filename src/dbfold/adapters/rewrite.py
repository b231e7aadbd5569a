"""Translate one legacy SQL statement into SQL on the unified database.

The statement is tokenized and parsed with sqlglot (dialect ``sqlite``) and then rewritten
by *splicing the original text* at the positions sqlglot reports, rather than by generating
SQL from the tree. Everything the legacy code wrote stays byte for byte (so result column
names, which SQLite takes from the statement text, are what the legacy store gave), and only
these pieces change:

* every legacy table that is read becomes a derived table showing the unified rows of this
  store under the legacy column names (``(SELECT "t_col" AS "col" … WHERE "source" = 'x')
  AS "legacy"``), or just the unified name when nothing else differs; SQLite flattens these
  subqueries, so indexes are still used;
* the table an INSERT, UPDATE or DELETE writes is renamed (aliased to the legacy name), the
  columns that belong to it are renamed, and for a merged table the discriminator is added:
  to the column list and each row of an INSERT, to the WHERE of an UPDATE and a DELETE, and
  to the conflict target of an upsert;
* an INSERT into a merged table whose legacy key was an integer rowid alias gets the next
  key of its source computed inside the statement (``MAX(key) + 1`` of that source; a
  multi-row VALUES runs row by row in one savepoint; ``INSERT … SELECT`` numbers rows in
  the order the SELECT yields them, so give it an ORDER BY to match the legacy store).
  Like a plain ``INTEGER PRIMARY KEY``, a deleted highest key is reused, which is exactly
  what the legacy table did; a legacy key declared ``AUTOINCREMENT`` is emulated per source
  instead (``dbfold_adapter_sequence`` and a TEMP trigger, see
  :meth:`~dbfold.adapters.mapping.TableMap.trigger_sql`), so keys are never reused.

What cannot be translated faithfully raises :class:`~dbfold.errors.AdapterError` naming the
statement; statements that the legacy store itself would reject raise the same sqlite3 error.

Pragmas follow one rule: the legacy program may read anything and may set what only its own
connection sees, but never what belongs to the unified database as a whole or changes what
other connections get. So:

* the query form (``PRAGMA journal_mode``, no value) always runs, and answers with the
  unified database's value;
* setting a connection-local, harmless pragma (``busy_timeout``, ``cache_size``,
  ``temp_store``, ``foreign_keys`` …) runs as written;
* setting a pragma of the whole database or of the shared WAL and locks (``journal_mode``,
  ``page_size``, ``mmap_size``, ``locking_mode``, ``schema_version`` …, see ``_GUARDED``)
  to the value it already has is a no-op answered as SQLite answers it (so the common
  ``PRAGMA journal_mode=WAL`` gets its one row ``wal``); to any other value it raises
  :class:`~dbfold.errors.AdapterError` naming the statement: the unified database keeps its
  own setting. The current value is read when the statement runs, not when it is translated;
* ``synchronous`` may be set to NORMAL or anything safer (it only changes how often this
  connection syncs its own commits; NORMAL is what dbfold's runtime uses on the WAL file),
  never to OFF;
* maintenance of the legacy file (``optimize``, ``incremental_vacuum``, like ``VACUUM`` and
  ``ANALYZE``) is a no-op, and ``wal_checkpoint`` in any mode runs as a PASSIVE checkpoint,
  which never waits for or blocks the other connections of the shared file.

A schema-qualified pragma is the same pragma (``PRAGMA main.synchronous=0``); any schema but
``main`` is refused, and so are the ``pragma_…`` table-valued functions.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from dbfold.adapters.mapping import StoreMap, TableMap
from dbfold.errors import AdapterError
from dbfold.quoting import literal
from dbfold.runtime.backend import quote_ident

__all__ = ["Translation", "Translator", "translator_for"]

_DIALECT = Dialect.get_or_raise("sqlite")
_MASTER = {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
_ROWID = {"rowid", "oid", "_rowid_"}

#: Pragmas answered from the legacy schema (an empty in-memory copy of it).
_SHADOW_NAMES = """table_info table_xinfo index_list index_info index_xinfo foreign_key_list
    table_list"""
SHADOW_PRAGMAS = frozenset(_SHADOW_NAMES.split())
#: Pragmas that only affect the calling connection, or only read: run as written.
#: ``foreign_keys`` passes both ways: it is per connection, and OFF is what a legacy
#: connection starts with anyway (the adapter keeps the legacy program's enforcement, which
#: was its own choice), so refusing OFF would protect nothing. ``cell_size_check`` only adds
#: checks of pages this connection reads; ``shrink_memory`` frees this connection's cache.
_PASS_NAMES = """foreign_keys busy_timeout cache_size temp_store
    case_sensitive_like cache_spill automatic_index defer_foreign_keys
    read_uncommitted query_only
    reverse_unordered_selects cell_size_check threads soft_heap_limit hard_heap_limit
    analysis_limit trusted_schema legacy_alter_table integrity_check
    quick_check compile_options data_version shrink_memory collation_list
    function_list module_list pragma_list database_list foreign_key_check freelist_count
    page_count"""
PASS_PRAGMAS = frozenset(_PASS_NAMES.split())
#: Pragmas whose value belongs to the unified database (read freely; set only to the value
#: it has, see the module doc): the value's kind and why the legacy program may not set it.
_GUARDED: dict[str, tuple[str, str]] = {
    # Stored in the database file itself.
    "journal_mode": ("journal", "the journal mode is stored in the unified database file"),
    "page_size": ("int", "the page size is part of the unified database file"),
    "auto_vacuum": ("auto_vacuum", "auto_vacuum is stored in the unified database file"),
    "encoding": ("encoding", "the text encoding is part of the unified database file"),
    "schema_version": (
        "int",
        "connections find schema changes by this number; setting it can corrupt the database",
    ),
    "writable_schema": ("bool", "it would let statements rewrite the unified sqlite_schema"),
    # Per connection in SQLite, but they decide how the one WAL, its checkpoints and the
    # locks of the shared file behave, or the file's size, for every connection.
    "locking_mode": ("locking", "EXCLUSIVE would lock every other connection out"),
    "wal_autocheckpoint": ("int", "it decides when the shared WAL is checkpointed"),
    "journal_size_limit": ("int", "it decides how large the shared WAL file stays"),
    "mmap_size": ("int", "memory-mapped I/O of the shared file is the unified database's choice"),
    "secure_delete": ("secure_delete", "it changes what deletes leave in the shared file"),
    "max_page_count": ("int", "a limit sized for the legacy file does not fit the unified one"),
    # What this connection writes would break what the others read, or what dbfold records.
    "ignore_check_constraints": (
        "bool",
        "rows written past the CHECK constraints would be wrong for every reader",
    ),
    "recursive_triggers": (
        "bool",
        "dbfold's provenance triggers record this connection's writes assuming it is off",
    ),
}
#: Of those, the ones whose set form returns a row (the value now in force), as SQLite does.
_ANSWERED_ON_SET = frozenset(
    {
        "journal_mode",
        "locking_mode",
        "wal_autocheckpoint",
        "journal_size_limit",
        "mmap_size",
        "secure_delete",
        "max_page_count",
    }
)
#: Maintenance of the legacy file, a no-op like VACUUM and ANALYZE: on the unified database
#: it would take the shared write lock (``dbfold optimize`` maintains that file instead).
#: ``legacy_file_format`` is a no-op in SQLite itself (it only ever applied to new files).
_NO_OP_PRAGMAS = frozenset({"optimize", "incremental_vacuum", "legacy_file_format"})
#: Lowest ``synchronous`` a legacy connection may set: NORMAL is what dbfold's runtime uses
#: on the unified database (WAL, where NORMAL cannot corrupt it); OFF lets a crash of the
#: machine leave the shared file corrupt.
_SYNCHRONOUS_FLOOR = 1
_BOOLEAN = {"on": 1, "yes": 1, "true": 1, "off": 0, "no": 0, "false": 0}
_WORDS: dict[str, dict[str, int]] = {
    "int": {},
    "bool": _BOOLEAN,
    "auto_vacuum": {"none": 0, "full": 1, "incremental": 2},
    "secure_delete": {**_BOOLEAN, "fast": 2},
    "synchronous": {"off": 0, "normal": 1, "full": 2, "extra": 3},
}
_NAMES: dict[str, frozenset[str]] = {
    "journal": frozenset({"delete", "truncate", "persist", "memory", "wal", "off"}),
    "locking": frozenset({"normal", "exclusive"}),
    "encoding": frozenset({"utf8", "utf16", "utf16le", "utf16be"}),
}
#: Pragmas kept per legacy store by the adapter.
STORE_PRAGMAS = frozenset({"user_version", "application_id"})


#: Tokens that end a SELECT's list of result expressions.
_PROJECTION_END = {
    TokenType.FROM,
    TokenType.WHERE,
    TokenType.GROUP_BY,
    TokenType.ORDER_BY,
    TokenType.LIMIT,
    TokenType.UNION,
    TokenType.EXCEPT,
    TokenType.INTERSECT,
    TokenType.HAVING,
    TokenType.WINDOW,
    TokenType.SEMICOLON,
}


def projection_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """The (start, end) character offsets of each result expression of the statement's
    first top-level SELECT: the text SQLite names an unaliased result column by."""
    depth = 0
    first = None
    for i, tok in enumerate(tokens):
        kind = tok.token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and kind == TokenType.SELECT:
            first = i + 1
            break
    if first is None:
        return []
    if first < len(tokens) and tokens[first].token_type in (TokenType.DISTINCT, TokenType.ALL):
        first += 1
    spans: list[tuple[int, int]] = []
    start = first
    depth = 0
    for i in range(first, len(tokens)):
        kind = tokens[i].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
            continue
        if kind == TokenType.R_PAREN:
            depth -= 1
            continue
        if depth:
            continue
        if kind in _PROJECTION_END or kind == TokenType.COMMA:
            if start < i:
                spans.append((tokens[start].start, tokens[i - 1].end + 1))
            start = i + 1
            if kind != TokenType.COMMA:
                return spans
    if start < len(tokens):
        spans.append((tokens[start].start, tokens[-1].end + 1))
    return spans


@dataclass(frozen=True, slots=True)
class Translation:
    """The outcome of translating one statement (cached per statement text).

    ``kind`` is ``sql`` (run ``sql`` on the unified database), ``empty`` (a no-op: an empty
    result), ``shadow`` (answer ``sql`` from the legacy schema: sqlite_master, PRAGMA
    table_info …), ``pragma`` (``user_version``/``application_id`` of the store; ``sql`` is
    the name, ``value`` the value set or None), ``split`` (run ``parts`` in order, each
    with its number of positional parameters, inside one savepoint: a multi-row INSERT
    into a merged table), ``setting`` (a pragma of the unified database being set: ``sql``
    is its name, ``value`` the value asked for in normal form; see :meth:`settle`) or
    ``error`` (raise ``error(message)``).
    ``key_sql`` is set for inserts into merged tables: it maps the unified rowid to the
    legacy key, which is what ``lastrowid`` reports. ``write`` marks INSERT, UPDATE and
    DELETE (they take the unified database's one write lock).
    """

    kind: str
    sql: str = ""
    key_sql: str | None = None
    error: type[Exception] | None = None
    message: str = ""
    value: str | None = None
    parts: tuple[tuple[Translation, int], ...] = ()
    write: bool = False

    def raise_error(self) -> None:
        """Raise the error this translation stands for."""
        assert self.error is not None
        raise self.error(self.message)

    def settle(self, current: Any) -> list[tuple[Any, ...]]:
        """For a ``setting``: the rows SQLite answers when the pragma already has the value.

        Args:
            current: What ``PRAGMA <name>`` answers on the unified database now (None when
                it answers no row).

        Returns:
            The answer of SQLite's own set form: one row with the value, or none.

        Raises:
            AdapterError: The value asked for is not the current one (the statement would
                change the unified database, which keeps its own setting).
        """
        kind, why = _GUARDED[self.sql]
        if current is None or _normal(kind, str(current)) != self.value:
            raise AdapterError(
                f"{self.message}: PRAGMA {self.sql} is {current!r} on the unified database and "
                f"stays so ({why}); the unified database keeps its own setting, so drop this "
                "statement or set the value it has"
            )
        return [(current,)] if self.sql in _ANSWERED_ON_SET else []


class _Refuse(Exception):
    """Internal: the statement cannot be translated (becomes an AdapterError)."""


class _Split(Exception):
    """Internal: run a multi-row INSERT as one statement per row."""

    def __init__(
        self, sql: str, tokens: list[Token], values: int, rows: list[tuple[int, int]]
    ) -> None:
        super().__init__("split")
        self.sql = sql
        self.tokens = tokens
        self.values = values
        self.rows = rows


class _SqliteError(Exception):
    """Internal: the legacy store would raise this sqlite3 error."""

    def __init__(self, cls: type[Exception], message: str) -> None:
        super().__init__(message)
        self.cls = cls
        self.message = message


def _fold(name: str) -> str:
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _normal(kind: str, text: str) -> str | None:
    """A pragma value in one spelling (``'WAL'``, ``wal`` → ``wal``; ``ON``, ``1`` → ``1``),
    or None when it is not a value of that kind (so it is never taken as equal)."""
    word = text.strip()
    if len(word) >= 2 and word[0] + word[-1] in ("''", '""', "[]", "``"):
        word = word[1:-1].strip()
    word = word.lower()
    names = _NAMES.get(kind)
    if names is not None:
        if kind == "encoding":
            word = word.replace("-", "")
        return word if word in names else None
    number = _WORDS[kind].get(word)
    if number is None:
        number = _integer(word)
    if number is None:
        return None
    if kind == "bool":
        number = int(number != 0)  # SQLite reads every other number as true
    return str(number)


def _integer(word: str) -> int | None:
    """A decimal or ``0x`` hexadecimal integer as SQLite reads a pragma value, else None."""
    body = word[1:] if word[:1] in "+-" else word
    if body.startswith("0x") and len(body) > 2:
        try:
            number = int(body[2:], 16)
        except ValueError:
            return None
    elif body.isascii() and body.isdigit():
        number = int(body)
    else:
        return None
    return -number if word.startswith("-") else number


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _span(node: exp.Expression) -> tuple[int, int]:
    meta = node.meta
    if "start" not in meta or "end" not in meta:
        raise _Refuse(f"no position for {node.sql(dialect='sqlite')!r}")
    return int(meta["start"]), int(meta["end"]) + 1


class Translator:
    """Translates statements for one store; :meth:`translate` is LRU-cached per text."""

    def __init__(self, mapping: StoreMap, cache_size: int = 2048) -> None:
        self.mapping = mapping
        self.translate: Callable[[str], Translation] = functools.lru_cache(maxsize=cache_size)(
            self._translate
        )

    # -- entry ------------------------------------------------------------------------------

    def _translate(self, sql: str) -> Translation:
        try:
            return self._dispatch(sql)
        except _Refuse as exc:
            return Translation(
                "error",
                error=AdapterError,
                message=(
                    f"cannot run {_short(sql)!r} on the unified database for "
                    f"{self.mapping.store}: {exc}; change this statement or keep this store "
                    "unrouted"
                ),
            )
        except _SqliteError as exc:
            return Translation("error", error=exc.cls, message=exc.message)
        except _Split as split:
            return self._split(sql, split)

    def _split(self, sql: str, split: _Split) -> Translation:
        tokens = split.tokens
        text = split.sql
        head = text[: tokens[split.values].end + 1]
        tail = text[tokens[split.rows[-1][1]].end + 1 :]
        parts: list[tuple[Translation, int]] = []
        for open_, close in split.rows:
            inner = tokens[open_ : close + 1]
            count = 0
            for n, tok in enumerate(inner):
                if tok.token_type == TokenType.PLACEHOLDER:
                    nxt = inner[n + 1] if n + 1 < len(inner) else None
                    if nxt is not None and nxt.start == tok.end + 1 and nxt.text.isdigit():
                        raise_refuse = Translation(
                            "error",
                            error=AdapterError,
                            message=(
                                f"cannot run {_short(sql)!r} for {self.mapping.store}: numbered "
                                "parameters in a multi-row INSERT into a merged table; "
                                "insert one row per statement"
                            ),
                        )
                        return raise_refuse
                    count += 1
            row_sql = f"{head} {text[tokens[open_].start : tokens[close].end + 1]}{tail}"
            part = self.translate(row_sql)
            if part.kind != "sql":
                return part
            parts.append((part, count))
        return Translation("split", parts=tuple(parts), write=True)

    def _dispatch(self, sql: str) -> Translation:
        try:
            tokens = _DIALECT.tokenize(sql)
        except TokenError as exc:
            self._syntax(sql)
            raise _Refuse(f"sqlglot cannot tokenize it ({exc})") from exc
        if not tokens:
            return Translation("sql", sql)
        lead = tokens[0].text.upper()
        if lead == "REPLACE":
            sql = "INSERT OR REPLACE" + sql[tokens[0].end + 1 :]
            tokens = _DIALECT.tokenize(sql)
        if lead == "PRAGMA":
            return self._pragma(sql, tokens)
        if lead in ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            return Translation("sql", sql)
        if lead in ("VACUUM", "ANALYZE", "REINDEX"):
            return Translation("empty")  # maintenance of the legacy file: the target has its own
        if lead == "CREATE":
            words = [t.text.upper() for t in tokens[1:4]]
            what = next((w for w in words if w not in ("TEMP", "TEMPORARY", "UNIQUE")), "")
            if what in ("TRIGGER", "VIEW", "VIRTUAL"):
                raise _Refuse(f"CREATE {what} is not supported; add it to the plan instead")
        if lead in ("ATTACH", "DETACH", "EXPLAIN"):
            raise _Refuse(f"{lead} is not supported through an adapter")
        try:
            trees = [t for t in _DIALECT.parser().parse(tokens, sql) if t is not None]
        except ParseError as exc:
            self._syntax(sql)
            raise _Refuse(f"sqlglot cannot parse it ({str(exc).splitlines()[0]})") from exc
        if len(trees) > 1:
            raise _SqliteError(
                sqlite3.ProgrammingError, "You can only execute one statement at a time."
            )
        if not trees:
            return Translation("sql", sql)
        tree = trees[0]
        if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
            return _Statement(self.mapping, sql, tokens, tree).write()
        if isinstance(tree, exp.Query):
            return _Statement(self.mapping, sql, tokens, tree).read()
        if isinstance(tree, exp.Create):
            return self._create(tree)
        if isinstance(tree, exp.Drop):
            return self._drop(tree)
        if isinstance(tree, (exp.Transaction, exp.Commit, exp.Rollback)):
            return Translation("sql", sql)
        raise _Refuse(f"{type(tree).__name__.upper()} statements are not supported")

    def _syntax(self, sql: str) -> None:
        try:
            self.mapping.check_syntax(sql)
        except sqlite3.Error as exc:
            raise _SqliteError(type(exc), str(exc)) from exc

    # -- DDL and pragmas --------------------------------------------------------------------

    def _create(self, tree: exp.Create) -> Translation:
        kind = str(tree.args.get("kind") or "").upper()
        target = tree.this
        if kind == "TABLE":
            table = target.this if isinstance(target, exp.Schema) else target
            if not isinstance(table, exp.Table):
                raise _Refuse("unrecognised CREATE TABLE")
            if tree.args.get("properties") and "TEMP" in tree.sql(dialect="sqlite").upper():
                raise _Refuse("temporary tables are not supported")
            mapped = self.mapping.table(table.name)
            if mapped is None:
                raise _Refuse(f"table {table.name!r} is not in the plan; add it with dbfold design")
            if tree.args.get("exists"):
                return Translation("empty")
            raise _SqliteError(sqlite3.OperationalError, f"table {table.name} already exists")
        if kind == "INDEX" and isinstance(target, exp.Index):
            table = target.args.get("table")
            if isinstance(table, exp.Table) and self.mapping.table(table.name) is not None:
                return Translation("empty")  # the unified table has the indexes the plan chose
            raise _Refuse("CREATE INDEX on a table that is not in the plan")
        raise _Refuse(f"CREATE {kind or 'statement'} is not supported")

    def _drop(self, tree: exp.Drop) -> Translation:
        table = tree.this
        name = table.name if isinstance(table, exp.Table) else ""
        if tree.args.get("exists") and self.mapping.table(name) is None:
            return Translation("empty")
        raise _Refuse("DROP is not supported on folded tables")

    def _pragma(self, sql: str, tokens: list[Token]) -> Translation:
        rest = [t for t in tokens[1:] if t.token_type != TokenType.SEMICOLON]
        if len(rest) >= 2 and rest[1].token_type == TokenType.DOT:
            if rest[0].text.lower() != "main":
                raise _Refuse(f"schema {rest[0].text!r} is not supported")
            rest = rest[2:]
        if not rest:
            raise _Refuse("empty PRAGMA")
        name = rest[0].text.lower()
        args = rest[1:]
        value: str | None = None
        if args and args[0].token_type in (TokenType.EQ, TokenType.L_PAREN):
            inner = [t for t in args[1:] if t.token_type != TokenType.R_PAREN]
            value = "".join(t.text for t in inner) if inner else None
        elif args:
            raise _Refuse("malformed PRAGMA")
        # The value as written (sqlglot's token text drops the 0x of a hex number).
        raw = sql[args[1].start : args[-1].end + 1].strip("() \t\r\n") if value else None
        if name in SHADOW_PRAGMAS:
            return Translation("shadow", sql)
        if name in PASS_PRAGMAS:
            checks = ("integrity_check", "quick_check", "foreign_key_check")
            if value is not None and name in checks and not value.isdigit():
                raise _Refuse(f"PRAGMA {name} of one table is not supported")
            return Translation("sql", sql)
        if name in _GUARDED:
            if raw is None:
                return Translation("sql", f"PRAGMA {name}")  # the query form: just read
            wanted = _normal(_GUARDED[name][0], raw)
            if wanted is None:
                raise _Refuse(f"{raw!r} is not a value of PRAGMA {name}")
            return Translation(
                "setting",
                name,
                value=wanted,
                message=(
                    f"cannot run {_short(sql)!r} on the unified database for {self.mapping.store}"
                ),
            )
        if name == "synchronous":
            if raw is None:
                return Translation("sql", sql)
            level = _normal("synchronous", raw)
            if level is None or not 0 <= int(level) <= 3:
                raise _Refuse(f"{raw!r} is not a value of PRAGMA synchronous")
            if int(level) < _SYNCHRONOUS_FLOOR:
                raise _Refuse(
                    "synchronous=OFF would let a crash of the machine corrupt the shared "
                    "unified database; the unified database keeps its own setting (NORMAL or "
                    "safer)"
                )
            return Translation("sql", sql)  # this connection's own commits sync as often
        if name == "wal_checkpoint":
            # PASSIVE copies back what it can without waiting for, or blocking, the other
            # connections of the shared file (FULL, RESTART and TRUNCATE would do both).
            return Translation("sql", "PRAGMA wal_checkpoint(PASSIVE)")
        if name in _NO_OP_PRAGMAS:
            return Translation("empty")
        if name in STORE_PRAGMAS:
            return Translation("pragma", name, value=value)
        raise _Refuse(f"PRAGMA {name} is not supported")


def translator_for(mapping: StoreMap) -> Translator:
    """The (shared, cached) translator of a store map."""
    translator = mapping.translator
    if translator is None:
        translator = mapping.translator = Translator(mapping)
    assert isinstance(translator, Translator)
    return translator


class _Statement:
    """One parsed statement and the text edits that translate it."""

    def __init__(self, mapping: StoreMap, sql: str, tokens: list[Token], tree: Any):
        self.m = mapping
        self.sql = sql
        self.tokens = tokens
        self.tree = tree
        self.edits: list[tuple[int, int, int, str]] = []
        self.ctes = {_fold(c.alias) for c in tree.find_all(exp.CTE) if c.alias}
        self.master = False
        self.mapped: dict[int, TableMap] = {}  # id(Table node) -> mapping, for reads

    # -- output -----------------------------------------------------------------------------

    def _text(self) -> str:
        out = self.sql
        # Right to left, so earlier positions stay valid; at one position the later edit
        # goes first, so that insertions end up in the order they were made.
        for start, end, _, text in sorted(self.edits, reverse=True):
            out = out[:start] + text + out[end:]
        return out

    def _edit(self, start: int, end: int, text: str) -> None:
        self.edits.append((start, end, len(self.edits), text))

    # -- reads ------------------------------------------------------------------------------

    def read(self) -> Translation:
        self._reads(skip=None)
        if self.master:
            if self.mapped:
                raise _Refuse("sqlite_master and legacy tables in one statement")
            return Translation("shadow", self.sql)
        self._rowids()
        self._keep_names()
        return Translation("sql", self._text())

    def _keep_names(self) -> None:
        """Alias unaliased result expressions that were edited to their original text.

        SQLite names such a result column by the expression's text as written, and the
        edits inside it (a derived table in a scalar subquery) would change that name.
        """
        if not self.edits:
            return
        select: Any = self.tree
        while isinstance(select, exp.SetOperation):
            select = select.this
        if not isinstance(select, exp.Select):
            return
        spans = projection_spans(self.tokens)
        if len(spans) != len(select.expressions):
            return
        for (a, b), projection in zip(spans, select.expressions, strict=True):
            if isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
                continue
            if any(a <= s and e <= b for s, e, _, _ in self.edits):
                self._edit(b, b, f" AS {quote_ident(self.sql[a:b])}")

    def _reads(self, skip: exp.Table | None) -> None:
        for table in self.tree.find_all(exp.Table):
            if table is skip:
                continue
            ident = table.this
            if not isinstance(ident, exp.Identifier):
                if isinstance(ident, exp.Anonymous) and str(ident.this).lower().startswith(
                    "pragma_"
                ):
                    raise _Refuse("pragma table-valued functions are not supported")
                continue  # a table-valued function such as json_each()
            if table.args.get("catalog") is not None:
                raise _Refuse(f"qualified table {table.sql(dialect='sqlite')}")
            db = table.args.get("db")
            if db is not None and _fold(db.name) != "main":
                raise _Refuse(f"schema {db.name!r} is not supported")
            name = _fold(table.name)
            if db is None and name in self.ctes:
                continue
            if name in _MASTER:
                self.master = True
                continue
            if name == "sqlite_sequence":
                raise _Refuse("sqlite_sequence belongs to the legacy file")
            mapped = self.m.table(table.name)
            if mapped is None:
                raise _SqliteError(sqlite3.OperationalError, f"no such table: {table.name}")
            self.mapped[id(table)] = mapped
            start = _span(db)[0] if db is not None else _span(ident)[0]
            end = _span(ident)[1]
            if mapped.plain:
                if mapped.target == mapped.legacy and db is None:
                    continue
                text = mapped.qtarget
            else:
                text = mapped.derived_sql()
            if table.args.get("alias") is None:
                text += f" AS {quote_ident(mapped.legacy)}"
            self._edit(start, end, text)

    def _rowids(self) -> None:
        derived = {k: v for k, v in self.mapped.items() if not v.plain}
        if not derived:
            return
        tables = {id(t): t for t in self.tree.find_all(exp.Table)}
        for col in self.tree.find_all(exp.Column):
            if _fold(col.name) not in _ROWID or not isinstance(col.this, exp.Identifier):
                continue
            qual = _fold(col.table) if col.table else None
            owners = [
                mapped
                for key, mapped in self.mapped.items()
                if qual is None or _fold(tables[key].alias_or_name) == qual
            ]
            if len(owners) != 1 or owners[0].has_column(col.name):
                if owners and owners[0].has_column(col.name):
                    continue
                raise _Refuse(f"{col.name} of a folded table is ambiguous here")
            if owners[0].plain:
                continue
            if owners[0].key is None:
                raise _Refuse(f"{col.name} of {owners[0].legacy!r}: it has no integer key")
            self._edit(*_span(col.this), quote_ident(owners[0].key))

    # -- writes -----------------------------------------------------------------------------

    def write(self) -> Translation:
        tree = self.tree
        node = tree.this
        schema = node if isinstance(node, exp.Schema) else None
        table = schema.this if schema is not None else node
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise _Refuse("unrecognised target table")
        db = table.args.get("db")
        if db is not None and _fold(db.name) != "main":
            raise _Refuse(f"schema {db.name!r} is not supported")
        mapped = self.m.table(table.name)
        if mapped is None:
            if _fold(table.name) in _MASTER or _fold(table.name) == "sqlite_sequence":
                raise _Refuse("writing SQLite's own tables is not supported")
            raise _SqliteError(sqlite3.OperationalError, f"no such table: {table.name}")
        self._reads(skip=table)
        if self.master:
            raise _Refuse("sqlite_master inside a write")
        self._rowids()
        alias = table.args.get("alias")
        start = _span(db)[0] if db is not None else _span(table.this)[0]
        end = _span(table.this)[1]
        renamed = mapped.target != mapped.legacy or db is not None
        if renamed:
            text = mapped.qtarget
            if alias is None:
                text += f" AS {quote_ident(mapped.legacy)}"
            self._edit(start, end, text)
        qualifier = quote_ident(alias.name if alias is not None else mapped.legacy)
        if not renamed and alias is None:
            qualifier = quote_ident(mapped.target)
        names = {_fold(mapped.legacy)}
        if alias is not None:
            names = {_fold(alias.name)}
        if not mapped.plain:
            if tree.args.get("returning") is not None:
                raise _Refuse("RETURNING from a merged or renamed table")
            self._columns(mapped, names)
        after = _span(alias.this if alias is not None else table.this)[1]
        key_sql = None
        if isinstance(tree, exp.Insert):
            self._insert(tree, mapped, schema, after)
            self.conflict_target(mapped)
            if mapped.generate_key:
                key_col = quote_ident(mapped.target_column(mapped.key or "") or "")
                key_sql = f"SELECT {key_col} FROM {mapped.qtarget} WHERE rowid = ?"
        elif mapped.discriminator is not None:
            self._where(mapped.filter_sql(qualifier))
        return Translation("sql", self._text(), key_sql=key_sql, write=True)

    def _columns(self, mapped: TableMap, names: set[str]) -> None:
        """Rename the columns that belong to the written table."""
        conflict = self.tree.args.get("conflict")
        for col in self.tree.find_all(exp.Column):
            ident = col.this
            if not isinstance(ident, exp.Identifier):
                continue
            new = mapped.target_column(ident.name)
            if new is None or new == ident.name:
                continue
            qual = _fold(col.table) if col.table else None
            inner = self._inner_sources(col)
            if qual is not None:
                if qual in inner:
                    continue
                in_conflict = conflict is not None and col.find_ancestor(exp.OnConflict) is not None
                if qual not in names and not (qual == "excluded" and in_conflict):
                    continue
            elif any(cols is None or _fold(ident.name) in cols for cols in inner.values()):
                continue
            self._edit(*_span(ident), quote_ident(new))

    def _inner_sources(self, col: exp.Column) -> dict[str, set[str] | None]:
        """Sources of the SELECTs enclosing ``col`` inside the statement: alias → columns."""
        found: dict[str, set[str] | None] = {}
        node = col.parent
        while node is not None and node is not self.tree:
            if isinstance(node, exp.Select):
                sources: list[exp.Expression] = []
                from_ = node.args.get("from_") or node.args.get("from")
                if from_ is not None:
                    sources.append(from_.this)
                sources += [j.this for j in node.args.get("joins") or ()]
                for src in sources:
                    key = _fold(src.alias_or_name)
                    mapped = self.mapped.get(id(src))
                    found[key] = {_fold(a) for a, _ in mapped.columns} if mapped else None
            node = node.parent
        return found

    # -- token helpers ----------------------------------------------------------------------

    def _index_after(self, pos: int) -> int:
        return next((i for i, t in enumerate(self.tokens) if t.start >= pos), len(self.tokens))

    def _match(self, i: int) -> int:
        depth = 0
        for j in range(i, len(self.tokens)):
            kind = self.tokens[j].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    return j
        raise _Refuse("unbalanced parentheses")

    def _end(self) -> int:
        toks = [t for t in self.tokens if t.token_type != TokenType.SEMICOLON]
        return toks[-1].end + 1

    def _top_level(self, start: int) -> list[int]:
        """Indexes of depth-0 tokens from token ``start`` on."""
        out, depth = [], 0
        for j in range(start, len(self.tokens)):
            kind = self.tokens[j].token_type
            if kind == TokenType.L_PAREN:
                if depth == 0:
                    out.append(j)
                depth += 1
            elif kind == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0:
                out.append(j)
        return out

    # -- UPDATE / DELETE --------------------------------------------------------------------

    def _where(self, condition: str) -> None:
        main = next(
            (
                i
                for i in self._top_level(0)
                if self.tokens[i].token_type in (TokenType.UPDATE, TokenType.DELETE)
            ),
            None,
        )
        if main is None:
            raise _Refuse("cannot find the statement's keyword")
        top = self._top_level(main)
        stops = (TokenType.ORDER_BY, TokenType.LIMIT, TokenType.RETURNING, TokenType.SEMICOLON)
        where = next((i for i in top if self.tokens[i].token_type == TokenType.WHERE), None)
        begin = top.index(where) if where is not None else 0
        stop = next((i for i in top[begin:] if self.tokens[i].token_type in stops), None)
        end = self.tokens[stop].start if stop is not None else self._end()
        if where is not None:
            after = self.tokens[where].end + 1
            if stop is not None:
                end = self.tokens[stop - 1].end + 1
            self._edit(after, after, f" {condition} AND (")
            self._edit(end, end, ")")
        else:
            if stop is not None:
                end = self.tokens[stop - 1].end + 1
            self._edit(end, end, f" WHERE {condition}")

    # -- INSERT -----------------------------------------------------------------------------

    def _insert(
        self, tree: exp.Insert, mapped: TableMap, schema: exp.Schema | None, after: int
    ) -> None:
        disc = mapped.discriminator
        key_target = mapped.target_column(mapped.key or "") if mapped.generate_key else None
        listed: list[str] = []
        if schema is not None:
            for ident in schema.expressions:
                if not isinstance(ident, exp.Identifier):
                    raise _Refuse("unrecognised column list")
                listed.append(_fold(ident.name))
                new = mapped.target_column(ident.name)
                if new is not None and new != ident.name:
                    self._edit(*_span(ident), quote_ident(new))
        i = self._index_after(after)
        close = None
        if schema is not None and i < len(self.tokens):
            if self.tokens[i].token_type != TokenType.L_PAREN:
                raise _Refuse("unrecognised column list")
            close = self._match(i)
            i = close + 1
        source = tree.args.get("expression")
        default = bool(tree.args.get("default"))
        if disc is None and (schema is not None or mapped.plain or default):
            return
        value = literal(mapped.value or "")
        key_pos = None
        if schema is None and not default:
            cols = [t for _, t in mapped.columns]
            listed = [_fold(lg) for lg, _ in mapped.columns]
            extra = [disc] if disc else []
            text = ", ".join(quote_ident(c) for c in cols + extra)
            self._edit(after, after, f" ({text})")
        elif close is not None and disc is not None:
            self._edit(self.tokens[close].start, self.tokens[close].start, f", {quote_ident(disc)}")
        if disc is None:
            return
        key_legacy = _fold(mapped.key or "")
        add_key = key_target is not None and key_legacy not in listed
        if key_target is not None and not add_key:
            key_pos = listed.index(key_legacy)
        if add_key and key_target is not None:
            if default or close is None:
                pass  # handled below with the column list
            else:
                pos = self.tokens[close].start
                self._edit(pos, pos, f", {quote_ident(key_target)}")
        if default:
            cols = [quote_ident(disc)] + (
                [quote_ident(key_target)] if add_key and key_target else []
            )
            vals = [value] + ([mapped.next_key_sql(1)] if add_key else [])
            start = next(t.start for t in self.tokens if t.token_type == TokenType.DEFAULT)
            values_tok = next(t for t in self.tokens if t.token_type == TokenType.VALUES)
            self._edit(start, values_tok.end + 1, f"({', '.join(cols)}) VALUES ({', '.join(vals)})")
            return
        if schema is None and add_key and key_target is not None:
            # the generated list already names every mapped column, the key included
            add_key = False
        if isinstance(source, exp.Values):
            self._values(i, value, mapped, add_key, key_pos)
        elif isinstance(source, exp.Query):
            self._insert_select(i, value, mapped, add_key)
        else:
            raise _Refuse("unrecognised INSERT source")

    def _values(
        self, i: int, value: str, mapped: TableMap, add_key: bool, key_pos: int | None
    ) -> None:
        if self.tokens[i].token_type != TokenType.VALUES:
            raise _Refuse("unrecognised VALUES")
        rows: list[tuple[int, int]] = []
        j = i + 1
        while j < len(self.tokens) and self.tokens[j].token_type == TokenType.L_PAREN:
            close = self._match(j)
            rows.append((j, close))
            j = close + 1
            if j < len(self.tokens) and self.tokens[j].token_type == TokenType.COMMA:
                j += 1
            else:
                break
        if mapped.generate_key and len(rows) > 1:
            # Each row's key depends on the rows inserted before it: one statement per row.
            raise _Split(self.sql, self.tokens, i, rows)
        for k, (j, close) in enumerate(rows, start=1):
            if key_pos is not None:  # first: its closing edit may sit where the row ends
                elements = self._elements(j, close)
                if key_pos >= len(elements):
                    raise _Refuse("fewer values than columns")
                a, b = elements[key_pos]
                self._edit(a, a, "COALESCE(")
                self._edit(b, b, f", {mapped.next_key_sql(k)})")
            pos = self.tokens[close].start
            extra = f", {value}" + (f", {mapped.next_key_sql(k)}" if add_key else "")
            self._edit(pos, pos, extra)

    def _elements(self, open_: int, close: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        depth = 0
        first = open_ + 1
        for j in range(open_ + 1, close + 1):
            kind = self.tokens[j].token_type
            if kind == TokenType.L_PAREN:
                depth += 1
            elif kind == TokenType.R_PAREN and j != close:
                depth -= 1
            elif (kind == TokenType.COMMA and depth == 0) or j == close:
                if first < j:
                    out.append((self.tokens[first].start, self.tokens[j - 1].end + 1))
                first = j + 1
        return out

    def _insert_select(self, i: int, value: str, mapped: TableMap, add_key: bool) -> None:
        start = self.tokens[i].start
        top = self._top_level(i)
        stop = None
        for n, j in enumerate(top):
            tok = self.tokens[j]
            if tok.token_type in (TokenType.RETURNING, TokenType.SEMICOLON):
                stop = j
                break
            if (
                tok.token_type == TokenType.ON
                and n + 1 < len(top)
                and self.tokens[top[n + 1]].text.upper() == "CONFLICT"
            ):
                stop = j
                break
        end = self.tokens[stop - 1].end + 1 if stop is not None else self._end()
        extra = f", {value}"
        if add_key:
            extra += f", {mapped.key_base_sql()} + row_number() OVER ()"
        self._edit(start, start, f"SELECT *{extra} FROM (")
        # Named, because PostgreSQL requires an alias on a subquery in FROM (SQLite allows one).
        tail = ') AS "dbfold_rows"'
        if self.tree.args.get("conflict") is not None:
            tail += " WHERE true"
        self._edit(end, end, tail)

    def conflict_target(self, mapped: TableMap) -> None:
        """Add the discriminator to an upsert's conflict target."""
        conflict = self.tree.args.get("conflict")
        if conflict is None or mapped.discriminator is None:
            return
        keys = conflict.args.get("conflict_keys") or []
        if not keys:
            return
        first = keys[0].find(exp.Identifier)
        if first is None:
            raise _Refuse("unrecognised conflict target")
        pos = _span(first)[0]
        self._edit(pos, pos, f"{quote_ident(mapped.discriminator)}, ")

"""Translate one legacy SQLite statement into PostgreSQL on the unified tables.

Two steps, each of them dbfold's own:

1. :mod:`dbfold.adapters.rewrite` maps the legacy tables and columns onto the unified ones,
   exactly as for a SQLite unified database (derived tables for merged stores, the
   discriminator added to writes, generated keys, sqlite_master and PRAGMA answered from
   the legacy schema). Its output is still SQLite SQL.
2. :class:`PgTranslator` parses that text with sqlglot (dialect ``sqlite``), rewrites every
   construct whose meaning differs between the engines (see ``_Render``), and renders it
   with sqlglot's PostgreSQL generator. sqlglot alone would pass most SQLite-only
   constructs through silently (``LIKE`` stays case-sensitive, ``GLOB`` and ``datetime()``
   stay as calls PostgreSQL does not have, ``ON CONFLICT(id)`` becomes the invalid
   ``ON CONFLICT(id NULLS FIRST)``), so each is handled here, and what cannot be kept
   faithful raises :class:`~dbfold.errors.AdapterError` naming the statement.

Placeholders (``?``, ``?NNN``, ``:name``, ``@name``, ``$name``) become PostgreSQL's own
``$n`` parameters, sent to the server apart from the text, so a literal ``%`` needs no
escaping. The date and time functions run as small ``pg_temp`` functions made once per
connection (:data:`SESSION_FUNCTIONS`), which parse and modify time values the way SQLite
does (an unparsable value gives NULL, not an error).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from dbfold.adapters.mapping import SEQUENCE_TABLE, StoreMap, TableMap
from dbfold.adapters.rewrite import Translation, projection_spans, translator_for
from dbfold.errors import AdapterError
from dbfold.provenance import replace_sets
from dbfold.quoting import literal
from dbfold.runtime.backend import quote_ident

__all__ = ["SESSION_FUNCTIONS", "PgStatement", "PgTranslator", "pg_translator_for"]

_SQLITE = Dialect.get_or_raise("sqlite")
_ROWID = {"rowid", "oid", "_rowid_"}
_INT4 = 2**31 - 1

#: Functions SQLite has and PostgreSQL has not (or with another meaning) that dbfold does
#: not translate: refused rather than run with a different result.
_REFUSED_FUNCTIONS = frozenset(
    [
        "typeof",
        "printf",
        "format",
        "hex",
        "unhex",
        "quote",
        "zeroblob",
        "randomblob",
        "last_insert_rowid",
        "changes",
        "total_changes",
        "sqlite_version",
        "sqlite_source_id",
        "likelihood",
        "likely",
        "unlikely",
        "char",
        "soundex",
        "load_extension",
        "sqlite_compileoption_used",
        "sqlite_compileoption_get",
        "sqlite_offset",
        "json_each",
        "json_tree",
        "json_group_array",
        "json_group_object",
        "json_patch",
        "json_remove",
        "json_set",
        "json_insert",
        "json_replace",
        "json_type",
        "json_valid",
        "json_quote",
        "json",
        "json_array_length",
        "regexp",
        "match",
    ]
)

#: Per-connection helpers (``pg_temp``: private to the session, gone when it closes).
#: ``dbfold_time`` takes SQLite's time value and modifiers and returns a ``timestamp``
#: (UTC, as SQLite computes), or NULL where SQLite would give NULL.
SESSION_FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION pg_temp.dbfold_time(args text[]) RETURNS timestamp
LANGUAGE plpgsql STABLE AS $f$
DECLARE
  v text := args[1];
  t timestamp;
  m text;
  n double precision;
  unit text;
  i int;
  epoch_mod boolean := false;
BEGIN
  IF v IS NULL THEN RETURN NULL; END IF;
  IF array_length(args, 1) > 1 THEN
    FOR i IN 2 .. array_length(args, 1) LOOP
      IF lower(trim(args[i])) = 'unixepoch' THEN epoch_mod := true; END IF;
    END LOOP;
  END IF;
  v := trim(v);
  IF lower(v) = 'now' THEN
    t := date_trunc('milliseconds', statement_timestamp() AT TIME ZONE 'UTC');
  ELSIF v ~ '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$' THEN
    IF epoch_mod THEN
      t := to_timestamp(v::double precision) AT TIME ZONE 'UTC';
    ELSE
      t := to_timestamp((v::double precision - 2440587.5) * 86400.0) AT TIME ZONE 'UTC';
    END IF;
  ELSIF v ~ '^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[-+]\d{2}:\d{2})?$'
     OR v ~ '^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$' THEN
    BEGIN
      IF v ~ '^\d{2}:' THEN v := '2000-01-01 ' || v; END IF;
      IF v ~ '(Z|[-+]\d{2}:\d{2})$' THEN
        t := v::timestamptz AT TIME ZONE 'UTC';
      ELSE
        t := v::timestamp;
      END IF;
    EXCEPTION WHEN others THEN
      RETURN NULL;
    END;
  ELSE
    RETURN NULL;
  END IF;
  IF array_length(args, 1) > 1 THEN
    FOR i IN 2 .. array_length(args, 1) LOOP
      m := lower(trim(args[i]));
      IF m IS NULL THEN RETURN NULL; END IF;
      IF m = 'unixepoch' OR m = 'utc' OR m = 'localtime' OR m = 'auto' THEN
        CONTINUE;  -- the session's zone is UTC, so localtime and utc change nothing
      ELSIF m = 'start of day' THEN
        t := date_trunc('day', t);
      ELSIF m = 'start of month' THEN
        t := date_trunc('month', t);
      ELSIF m = 'start of year' THEN
        t := date_trunc('year', t);
      ELSIF m ~ '^[-+]?[0-9]*\.?[0-9]+ *(day|hour|minute|second|month|year)s?$' THEN
        n := substring(m from '^[-+]?[0-9]*\.?[0-9]+')::double precision;
        unit := substring(m from '(day|hour|minute|second|month|year)');
        IF unit = 'day' THEN t := t + n * interval '1 day';
        ELSIF unit = 'hour' THEN t := t + n * interval '1 hour';
        ELSIF unit = 'minute' THEN t := t + n * interval '1 minute';
        ELSIF unit = 'second' THEN t := t + n * interval '1 second';
        ELSIF unit = 'month' THEN t := t + (n::int) * interval '1 month';
        ELSE t := t + (n::int) * interval '1 year';
        END IF;
      ELSE
        RETURN NULL;
      END IF;
    END LOOP;
  END IF;
  RETURN t;
END
$f$
""",
    r"""
CREATE OR REPLACE FUNCTION pg_temp.dbfold_julian(t timestamp) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $f$
  SELECT extract(epoch FROM t)::double precision / 86400.0 + 2440587.5
$f$
""",
    r"""
CREATE OR REPLACE FUNCTION pg_temp.dbfold_strftime(fmt text, t timestamp) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE
  out text := '';
  i int := 1;
  c text;
BEGIN
  IF fmt IS NULL OR t IS NULL THEN RETURN NULL; END IF;
  WHILE i <= length(fmt) LOOP
    c := substr(fmt, i, 1);
    IF c = '%' AND i < length(fmt) THEN
      i := i + 1;
      c := substr(fmt, i, 1);
      out := out || CASE c
        WHEN 'Y' THEN to_char(t, 'YYYY')
        WHEN 'm' THEN to_char(t, 'MM')
        WHEN 'd' THEN to_char(t, 'DD')
        WHEN 'H' THEN to_char(t, 'HH24')
        WHEN 'M' THEN to_char(t, 'MI')
        WHEN 'S' THEN to_char(t, 'SS')
        WHEN 'f' THEN to_char(t, 'SS.MS')
        WHEN 'j' THEN to_char(t, 'DDD')
        WHEN 'w' THEN (extract(dow FROM t))::int::text
        WHEN 'u' THEN (extract(isodow FROM t))::int::text
        WHEN 'W' THEN lpad(((extract(doy FROM t)::int + 6
                             - ((extract(dow FROM t)::int + 6) % 7)) / 7)::text, 2, '0')
        WHEN 's' THEN floor(extract(epoch FROM t))::bigint::text
        WHEN 'J' THEN pg_temp.dbfold_julian(t)::text
        WHEN 'e' THEN lpad(extract(day FROM t)::int::text, 2, ' ')
        WHEN 'F' THEN to_char(t, 'YYYY-MM-DD')
        WHEN 'T' THEN to_char(t, 'HH24:MI:SS')
        WHEN 'R' THEN to_char(t, 'HH24:MI')
        WHEN 'D' THEN to_char(t, 'MM/DD/YY')
        WHEN '%' THEN '%'
        ELSE NULL END;
      IF out IS NULL THEN RETURN NULL; END IF;
    ELSE
      out := out || c;
    END IF;
    i := i + 1;
  END LOOP;
  RETURN out;
END
$f$
""",
)


@dataclass(frozen=True, slots=True)
class PgStatement:
    """One legacy statement, ready to run on PostgreSQL (cached per statement text).

    ``kind`` is ``sql`` (run ``sql``), ``empty`` (a no-op), ``answer`` (return ``rows``
    under ``columns``), ``shadow``/``pragma``/``error`` (as the SQLite
    :class:`~dbfold.adapters.rewrite.Translation` in ``base``), ``split`` (run ``parts``
    in order in one savepoint, each with its number of positional parameters),
    ``begin``, ``commit``, ``rollback`` or ``savepoint`` (transaction control, done by the
    connection; ``savepoint`` runs ``sql``).

    ``names`` lists the parameter each ``$n`` takes: ints are 1-based positions, strings
    names. ``key`` marks an INSERT to which ``RETURNING <key>, xmax = 0`` was added for
    ``lastrowid`` (its rows are not the program's); ``replace`` counts every returned row
    as inserted (REPLACE deletes and inserts). ``dml`` marks INSERT, UPDATE and DELETE
    (they begin sqlite3's implicit transaction and report ``rowcount``).
    """

    kind: str
    sql: str = ""
    names: tuple[int | str, ...] = ()
    positional: int = 0
    named: bool = False
    key: bool = False
    replace: bool = False
    dml: bool = False
    base: Translation | None = None
    parts: tuple[tuple[PgStatement, int], ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()


class _Refuse(Exception):
    """Internal: the statement cannot be translated faithfully."""


def _fold(name: str) -> str:
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(node: exp.Expression, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(to, dialect="postgres"))


def _fold_ascii(node: exp.Expression) -> exp.Expression:
    """``translate(x, 'A…Z', 'a…z')``: SQLite's NOCASE folds ASCII letters only."""
    return _call(
        "TRANSLATE",
        _cast(node, "text"),
        exp.Literal.string(_ASCII_UPPER),
        exp.Literal.string(_ASCII_UPPER.lower()),
    )


def glob_regex(pattern: str) -> str:
    r"""SQLite's GLOB pattern as an anchored POSIX regular expression.

    >>> glob_regex("a*b?[!x-z].")
    '^a.*b.[^x-z]\\.$'
    """
    out = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("]", "^", "!") else i + 1)
            if end == -1:
                out.append(r"\[")
            else:
                body = pattern[i + 1 : end]
                if body[:1] in ("^", "!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return "".join(out)


def _projection_texts(sql: str, tokens: list[Token]) -> list[str]:
    """The text of each result expression of the statement's first top-level SELECT."""
    return [sql[a:b] for a, b in projection_spans(tokens)]


class PgTranslator:
    """Translates legacy statements of one store into PostgreSQL; LRU-cached per text."""

    def __init__(self, mapping: StoreMap, cache_size: int = 2048) -> None:
        self.mapping = mapping
        self.sqlite = translator_for(mapping)
        self.translate: Callable[[str], PgStatement] = functools.lru_cache(maxsize=cache_size)(
            self._translate
        )
        # Every table and column name the unified tables of this store have, by ASCII fold:
        # SQLite matches identifiers case-insensitively, PostgreSQL folds unquoted ones.
        names: dict[str, str] = {}
        self.by_target: dict[str, TableMap] = {}
        for mapped in mapping.tables.values():
            self.by_target.setdefault(_fold(mapped.target), mapped)
            names.setdefault(_fold(mapped.target), mapped.target)
            table = mapping.plan.table(mapped.target)
            for col in table.columns if table is not None else ():
                names.setdefault(_fold(col.name), col.name)
            for legacy, _ in mapped.columns:
                names.setdefault(_fold(legacy), legacy)
        self.names = names

    def _translate(self, sql: str) -> PgStatement:
        try:
            return self._dispatch(sql)
        except _Refuse as exc:
            return PgStatement(
                "error",
                base=Translation(
                    "error",
                    error=AdapterError,
                    message=(
                        f"cannot run {_short(sql)!r} on the PostgreSQL unified database for "
                        f"{self.mapping.store}: {exc}; change this statement or keep this "
                        "store unrouted"
                    ),
                ),
            )

    def _dispatch(self, sql: str) -> PgStatement:
        try:
            tokens = _SQLITE.tokenize(sql)
        except TokenError:
            tokens = []
        words = [t.text.upper() for t in tokens if t.token_type != TokenType.SEMICOLON]
        if words:
            control = self._control(words, tokens, sql)
            if control is not None:
                return control
        base = self.sqlite.translate(sql)
        kind = base.kind
        if kind in ("sql", "split") and (not words or words[0] != "PRAGMA"):
            # What SQLite itself would reject (the SQLite adapter leaves that to the unified
            # SQLite file) gets SQLite's own error, not whatever PostgreSQL makes of it.
            try:
                self.mapping.check_syntax(sql)
            except sqlite3.Error as exc:
                return PgStatement(
                    "error", base=Translation("error", error=type(exc), message=str(exc))
                )
        if kind == "sql":
            if words and words[0] == "PRAGMA":
                return self._pragma(words)
            return self._render(base.sql)
        if kind == "split":
            parts = []
            for part, count in base.parts:
                rendered = self._render(part.sql)
                if rendered.kind != "sql":
                    return rendered
                parts.append((rendered, count))
            return PgStatement("split", parts=tuple(parts), dml=True)
        if kind == "setting":
            # A pragma of the SQLite file (journal_mode=WAL …): nothing of it exists on
            # PostgreSQL, so setting it changes nothing and answers as SQLite would.
            from dbfold.adapters.rewrite import _ANSWERED_ON_SET

            if base.sql in _ANSWERED_ON_SET:
                return PgStatement("answer", columns=(base.sql,), rows=((base.value,),))
            return PgStatement("empty")
        return PgStatement(kind, base=base)

    def _control(self, words: list[str], tokens: list[Token], sql: str) -> PgStatement | None:
        lead = words[0]
        if lead == "BEGIN":
            rest = [w for w in words[1:] if w != "TRANSACTION"]
            if len(rest) <= 1 and all(w in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE") for w in rest):
                return PgStatement("begin")
            return None
        if lead in ("COMMIT", "END") and all(w == "TRANSACTION" for w in words[1:]):
            return PgStatement("commit")
        if lead == "ROLLBACK" and all(w == "TRANSACTION" for w in words[1:]):
            return PgStatement("rollback")
        if lead in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
            name = next((t for t in reversed(tokens) if t.token_type != TokenType.SEMICOLON), None)
            if name is None or len(words) < 2:
                return None
            ident = '"' + name.text.replace('"', '""') + '"'
            if lead == "SAVEPOINT":
                return PgStatement("savepoint", f"SAVEPOINT {ident}")
            if lead == "RELEASE":
                return PgStatement("savepoint", f"RELEASE SAVEPOINT {ident}")
            return PgStatement("savepoint", f"ROLLBACK TO SAVEPOINT {ident}")
        return None

    def _pragma(self, words: list[str]) -> PgStatement:
        """A pragma the SQLite adapter runs as written: on PostgreSQL nothing of it exists,
        so a set is a no-op and a query answers what is true there."""
        body = [w for w in words[1:] if w not in ("MAIN", ".")]
        name = body[0].lower() if body else ""
        if len(body) > 1:
            return PgStatement("empty")  # set form: this connection's SQLite knob
        answers: dict[str, Any] = {
            "foreign_keys": 1,  # PostgreSQL always enforces the unified foreign keys
            "integrity_check": "ok",
            "quick_check": "ok",
            "journal_mode": "wal",
            "synchronous": 2,
            "busy_timeout": 5000,
        }
        if name in answers:
            return PgStatement("answer", columns=(name,), rows=((answers[name],),))
        if name == "foreign_key_check":
            return PgStatement("answer", columns=("table", "rowid", "parent", "fkid"), rows=())
        if name == "wal_checkpoint":
            return PgStatement("answer", columns=("busy", "log", "checkpointed"), rows=((0, 0, 0),))
        raise _Refuse(f"PRAGMA {name} has no PostgreSQL counterpart")

    # -- rendering --------------------------------------------------------------------------

    def _render(self, sql: str) -> PgStatement:
        try:
            tokens = _SQLITE.tokenize(sql)
        except TokenError as exc:
            raise _Refuse(f"sqlglot cannot tokenize it ({exc})") from exc
        text, order, positional, named = _number_placeholders(sql, tokens)
        try:
            trees = [t for t in _SQLITE.parser().parse(_SQLITE.tokenize(text), text) if t]
        except (ParseError, TokenError) as exc:
            raise _Refuse(f"sqlglot cannot parse it ({str(exc).splitlines()[0]})") from exc
        if len(trees) != 1:
            raise _Refuse("not one statement")
        tree = trees[0]
        render = _Render(self, tree)
        if isinstance(tree, exp.Query):
            render.names(_projection_texts(sql, tokens))
        tree = render.run()
        marks: dict[str, int] = {}
        for ph in list(tree.find_all(exp.Placeholder)):
            key = str(ph.name)
            if key not in order:
                raise _Refuse(f"unrecognised parameter {ph.sql(dialect='sqlite')}")
            number = marks.setdefault(key, len(marks) + 1)
            ph.replace(exp.Var(this=f"${number}"))
        names = tuple(order[k] for k in sorted(marks, key=marks.__getitem__))
        out = tree.sql(dialect="postgres")
        if render.sequence is not None:
            out = _with_sequence(out, render.sequence)
        return PgStatement(
            "sql",
            out,
            names=names,
            positional=positional,
            named=named,
            key=render.key,
            replace=render.replace,
            dml=isinstance(tree, (exp.Insert, exp.Update, exp.Delete)),
        )


def _number_placeholders(
    sql: str, tokens: list[Token]
) -> tuple[str, dict[str, int | str], int, bool]:
    """Give every placeholder a sqlglot-parsable name (``:dbfold_pN`` for positions).

    Returns the new text, each new name's parameter (a 1-based position or a name), the
    number of positions the statement takes, and whether it uses names.
    """
    edits: list[tuple[int, int, str]] = []
    order: dict[str, int | str] = {}
    top = 0
    named = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.token_type == TokenType.PLACEHOLDER and tok.text == "?":
            end = tok.end + 1
            if nxt is not None and nxt.start == end and nxt.token_type == TokenType.NUMBER:
                number = int(nxt.text)
                end = nxt.end + 1
                i += 1
            else:
                number = top + 1
            top = max(top, number)
            key = f"dbfold_p{number}"
            order[key] = number
            edits.append((tok.start, end, f":{key}"))
        elif (
            tok.token_type in (TokenType.COLON, TokenType.PARAMETER)
            and nxt is not None
            and nxt.start == tok.end + 1
            and nxt.token_type in (TokenType.VAR, TokenType.NUMBER)
        ):
            named = True
            name = nxt.text
            key = f"dbfold_n_{name}"
            if not key.replace("_", "").isalnum():
                key = f"dbfold_n{len(order)}"
            order[key] = name
            edits.append((tok.start, nxt.end + 1, f":{key}"))
            i += 1
        elif tok.token_type == TokenType.VAR and tok.text.startswith("$") and len(tok.text) > 1:
            named = True
            name = tok.text[1:]
            key = f"dbfold_n{len(order)}"
            order[key] = name
            edits.append((tok.start, tok.end + 1, f":{key}"))
        i += 1
    text = sql
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text, order, top, named


class _Render:
    """The PostgreSQL rewrites of one parsed statement (see the module doc)."""

    def __init__(self, translator: PgTranslator, tree: Any) -> None:
        self.t = translator
        self.tree = tree
        self.key = False
        self.replace = False
        self.sequence: TableMap | None = None

    def names(self, texts: list[str]) -> None:
        """Alias unaliased result columns to the name SQLite gives them (the text as
        written; a column's own name as written), since PostgreSQL names them otherwise."""
        select: Any = self.tree
        while isinstance(select, exp.SetOperation):
            select = select.this
        if not isinstance(select, exp.Select) or len(texts) != len(select.expressions):
            return
        for text, projection in zip(texts, select.expressions, strict=True):
            if isinstance(projection, (exp.Alias, exp.Star)):
                continue
            if isinstance(projection, exp.Column):
                if isinstance(projection.this, exp.Star):
                    continue
                name = projection.name
                real = self.t.names.get(_fold(name))
                if _fold(name) in _ROWID and real is None:
                    continue  # SQLite names it after the key it aliases, as PostgreSQL will
                if real == name or not isinstance(projection.this, exp.Identifier):
                    continue  # PostgreSQL gives it this name already
            else:
                name = text
            projection.replace(exp.alias_(projection.copy(), name, quoted=True))

    def run(self) -> exp.Expression:
        tree = self.tree
        if isinstance(tree, exp.Insert):
            self._insert(tree)
        elif isinstance(tree, (exp.Update, exp.Delete)):
            for arg in ("order", "limit"):
                if tree.args.get(arg) is not None:
                    raise _Refuse(f"{type(tree).__name__.upper()} with {arg.upper()}")
        # Children before parents: a replacement may wrap a node whose insides are done.
        for node in reversed(list(tree.walk(bfs=False))):
            self._node(node)
        self._truths(tree)
        out: exp.Expression = tree
        return out

    def _truths(self, tree: exp.Expression) -> None:
        """A number or a column used as a condition (``WHERE 1``) is true when not zero in
        SQLite; PostgreSQL wants a boolean there."""
        spots: list[exp.Expression] = []
        for node in tree.walk():
            if isinstance(node, (exp.Where, exp.Having)):
                spots.append(node.this)
            elif isinstance(node, (exp.And, exp.Or)):
                spots += [node.this, node.expression]
            elif isinstance(node, exp.Not):
                spots.append(node.this)
            elif isinstance(node, exp.Join) and node.args.get("on") is not None:
                spots.append(node.args["on"])
        for spot in spots:
            inner = spot.this if isinstance(spot, exp.Paren) else spot
            if isinstance(inner, exp.Column) or (
                isinstance(inner, exp.Literal) and not inner.is_string
            ):
                spot.replace(exp.NEQ(this=spot.copy(), expression=exp.Literal.number(0)))

    # -- writes -----------------------------------------------------------------------------

    def _target(self, tree: exp.Insert) -> tuple[exp.Table, exp.Schema | None]:
        node = tree.this
        schema = node if isinstance(node, exp.Schema) else None
        table = schema.this if schema is not None else node
        if not isinstance(table, exp.Table):
            raise _Refuse("unrecognised target table")
        return table, schema

    def _insert(self, tree: exp.Insert) -> None:
        table, schema = self._target(tree)
        mapped = self.t.by_target.get(_fold(table.name))
        plan_table = self.t.mapping.plan.table(mapped.target) if mapped is not None else None
        alternative = str(tree.args.get("alternative") or "").upper()
        conflict = tree.args.get("conflict")
        if conflict is not None:
            for key in conflict.args.get("conflict_keys") or ():
                if isinstance(key, exp.Ordered):
                    # sqlglot reads the target as an ORDER BY item and would render it with
                    # NULLS FIRST, which PostgreSQL rejects.
                    key.replace(key.this)
            # PostgreSQL finds a bare column of DO UPDATE ambiguous (the row, or excluded);
            # SQLite means the existing row.
            owner = exp.to_identifier(table.alias_or_name, quoted=True)
            spots = [e.expression for e in conflict.args.get("expressions") or ()]
            if conflict.args.get("where") is not None:
                spots.append(conflict.args["where"])
            for spot in spots:
                for col in list(spot.find_all(exp.Column)):
                    if not col.table:
                        col.set("table", owner.copy())
        if alternative in ("ABORT", "FAIL"):
            tree.set("alternative", None)
        elif alternative == "ROLLBACK":
            raise _Refuse("INSERT OR ROLLBACK")
        elif alternative == "IGNORE":
            if conflict is not None:
                raise _Refuse("INSERT OR IGNORE with an upsert clause")
            tree.set("alternative", None)
            tree.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
        elif alternative == "REPLACE":
            if conflict is not None:
                raise _Refuse("INSERT OR REPLACE with an upsert clause")
            tree.set("alternative", None)
            self._replace(tree, schema, plan_table)
            self.replace = True
        elif alternative:
            raise _Refuse(f"INSERT OR {alternative}")
        if mapped is not None and mapped.key is not None and mapped.discriminator is None:
            self._next_key(tree, schema, table, mapped)
        if (
            mapped is not None
            and mapped.key is not None
            and tree.args.get("returning") is None
            and (key := mapped.target_column(mapped.key)) is not None
        ):
            tree.set(
                "returning",
                exp.Returning(
                    expressions=[
                        exp.alias_(exp.column(key, quoted=True), "dbfold_key", quoted=True),
                        exp.alias_(
                            exp.EQ(this=exp.column("xmax"), expression=exp.Literal.number(0)),
                            "dbfold_new",
                            quoted=True,
                        ),
                    ]
                ),
            )
            self.key = True
            if mapped.autoincrement:
                self.sequence = mapped

    def _next_key(
        self, tree: exp.Insert, schema: exp.Schema | None, table: exp.Table, mapped: TableMap
    ) -> None:
        """A one-row INSERT that leaves the integer key out, or gives it NULL, gets
        ``max(key) + 1`` as SQLite's rowid does (not the identity sequence, which knows
        nothing of keys the legacy code chose itself)."""
        values = tree.args.get("expression")
        key = mapped.target_column(mapped.key or "")
        plan_table = self.t.mapping.plan.table(mapped.target)
        if key is None or plan_table is None or not isinstance(values, exp.Values):
            return
        rows = values.expressions
        if len(rows) != 1 or not isinstance(rows[0], exp.Tuple):
            return
        quoted = quote_ident(key)
        nxt = sqlglot.parse_one(
            f"(SELECT COALESCE(MAX({quoted}), 0) + 1 FROM {quote_ident(mapped.target)})",
            read="postgres",
        )
        if schema is not None:
            listed = [_fold(i.name) for i in schema.expressions]
        else:
            listed = [_fold(c.name) for c in plan_table.columns]
        row = rows[0]
        if _fold(key) in listed:
            pos = listed.index(_fold(key))
            if pos < len(row.expressions):
                item = row.expressions[pos]
                item.replace(exp.Coalesce(this=item.copy(), expressions=[nxt]))
        elif schema is not None:
            schema.append("expressions", exp.to_identifier(key, quoted=True))
            row.append("expressions", nxt)

    def _replace(self, tree: exp.Insert, schema: exp.Schema | None, table: Any) -> None:
        """``INSERT OR REPLACE`` as an upsert on the primary key: the new row's values,
        and their defaults for the columns it does not name (REPLACE deletes the old row)."""
        if table is None:
            raise _Refuse("REPLACE into a table the plan does not describe")
        arbiter = list(table.primary_key)
        others = replace_sets(table, arbiter)
        if not arbiter:
            uniques = [*table.unique, *(ix.columns for ix in table.indexes if ix.unique)]
            if len(uniques) > 1:
                raise _Refuse("REPLACE into a table with several UNIQUE constraints and no key")
            if not uniques:
                return  # nothing can conflict: a plain INSERT
            arbiter, others = list(uniques[0]), []
        if others:
            raise _Refuse(
                "REPLACE into a table with UNIQUE constraints besides its key (PostgreSQL "
                "resolves one conflict target per statement)"
            )
        if schema is not None:
            listed = [i.name for i in schema.expressions if isinstance(i, exp.Identifier)]
        else:
            listed = [c.name for c in table.columns]
        keys = {_fold(c) for c in arbiter}
        sets = []
        for col in table.columns:
            if _fold(col.name) in keys:
                continue
            inserted = any(_fold(n) == _fold(col.name) for n in listed)
            value: exp.Expression = (
                exp.column(col.name, table="excluded", quoted=True)
                if inserted
                else exp.var("DEFAULT")
            )
            sets.append(exp.EQ(this=exp.column(col.name, quoted=True), expression=value))
        if not sets:
            first = arbiter[0]
            sets.append(
                exp.EQ(
                    this=exp.column(first, quoted=True),
                    expression=exp.column(first, table="excluded", quoted=True),
                )
            )
        tree.set(
            "conflict",
            exp.OnConflict(
                action=exp.var("DO UPDATE"),
                conflict_keys=[exp.column(c, quoted=True) for c in arbiter],
                expressions=sets,
            ),
        )

    # -- expressions ------------------------------------------------------------------------

    def _node(self, node: Any) -> None:
        if node.parent is None and node is not self.tree:
            return  # replaced already
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node)

    def _mod(self, node: exp.Expression) -> None:
        # SQLite's x % 0 is NULL; PostgreSQL raises. (Newer sqlglot adds this NULLIF itself;
        # doing it here keeps the oldest sqlglot dbfold allows right too.)
        right = node.expression
        if not isinstance(right, exp.Nullif):
            node.set("expression", exp.Nullif(this=right.copy(), expression=exp.Literal.number(0)))

    def _is(self, node: exp.Expression) -> None:
        # SQLite's IS compares any two values (NULL-safe); PostgreSQL's IS takes only NULL,
        # TRUE, FALSE and UNKNOWN on its right.
        if not isinstance(node.expression, (exp.Null, exp.Boolean)):
            node.replace(exp.NullSafeEQ(this=node.this.copy(), expression=node.expression.copy()))

    def _like(self, node: exp.Expression) -> None:
        # SQLite's LIKE folds ASCII case and has no escape character unless one is given;
        # PostgreSQL's is case-sensitive, escapes with a backslash and wants text operands.
        new = exp.ILike(this=_cast(node.this, "text"), expression=_cast(node.expression, "text"))
        if isinstance(node.parent, exp.Escape):
            node.replace(new)
        else:
            node.replace(exp.Escape(this=new, expression=exp.Literal.string("")))

    def _glob(self, node: exp.Expression) -> None:
        pattern = node.expression
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            raise _Refuse("GLOB with a pattern that is not a string literal")
        node.replace(
            exp.RegexpLike(
                this=_cast(node.this, "text"),
                expression=exp.Literal.string(glob_regex(pattern.name)),
            )
        )

    def _collate(self, node: exp.Expression) -> None:
        name = node.expression.name.upper() if node.expression is not None else ""
        if name == "BINARY":
            node.replace(node.this)
            return
        if name == "RTRIM":
            node.replace(_call("RTRIM", _cast(node.this, "text")))
            return
        if name != "NOCASE":
            raise _Refuse(f"COLLATE {name}")
        parent = node.parent
        node.replace(_fold_ascii(node.this))
        if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            for side in ("this", "expression"):
                other = parent.args.get(side)
                if other is not None and not (
                    isinstance(other, exp.Anonymous) and other.name == "TRANSLATE"
                ):
                    other.replace(_fold_ascii(other))

    def _json(self, node: exp.Expression) -> None:
        path = node.expression
        if not isinstance(path, exp.JSONPath):
            raise _Refuse("json_extract with a path that is not a string literal")
        keys: list[exp.Expression] = []
        for part in path.expressions:
            if isinstance(part, exp.JSONPathRoot):
                continue
            if isinstance(part, exp.JSONPathKey) and isinstance(part.this, str):
                keys.append(exp.Literal.string(part.this))
            elif isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int):
                keys.append(exp.Literal.string(str(part.this)))
            else:
                raise _Refuse(f"JSON path {path.sql(dialect='sqlite')}")
        doc = _cast(node.this, "json")
        parent = node.parent
        if isinstance(parent, exp.Alias):
            parent = parent.parent
        if not keys:
            node.replace(doc if isinstance(parent, exp.Select) else _cast(doc, "text"))
        elif isinstance(parent, exp.Select) and node.arg_key in ("expressions", "this"):
            # A result: typed json, which the connection turns into the SQL value SQLite's
            # json_extract gives (text, integer, real, NULL, or JSON text).
            node.replace(_call("JSON_EXTRACT_PATH", doc, *keys))
        else:
            node.replace(_call("JSON_EXTRACT_PATH_TEXT", doc, *keys))

    def _group_concat(self, node: exp.Expression) -> None:
        this = node.this
        if isinstance(this, exp.Distinct):
            for e in list(this.expressions):
                e.replace(_cast(e.copy(), "text"))
        else:
            node.set("this", _cast(this, "text"))
        if node.args.get("separator") is None:
            node.set("separator", exp.Literal.string(","))

    def _limit(self, node: exp.Expression) -> None:
        value = node.expression
        if value is None:
            return
        if isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal):
            node.pop()  # a negative LIMIT is no limit in SQLite
            return
        if isinstance(value, exp.Literal):
            return
        # Negative at run time is no limit too: PostgreSQL takes NULL for that.
        node.set(
            "expression",
            exp.Case(
                ifs=[
                    exp.If(
                        this=exp.LT(this=value.copy(), expression=exp.Literal.number(0)),
                        true=exp.Null(),
                    )
                ],
                default=value.copy(),
            ),
        )

    def _avg(self, node: exp.Expression) -> None:
        node.replace(_cast(node.copy(), "double precision"))

    def _round(self, node: exp.Expression) -> None:
        # PostgreSQL rounds only numeric to a number of places; SQLite returns a REAL.
        digits = node.args.get("decimals")
        args: list[exp.Expression] = [_cast(node.this, "numeric")]
        if digits is not None:
            args.append(_cast(digits, "int"))
        node.replace(_cast(_call("ROUND", *args), "double precision"))

    def _cast_node(self, node: exp.Expression) -> None:
        to = node.args.get("to")
        if not isinstance(to, exp.DataType):
            return
        kind = to.this
        types = exp.DataType.Type
        if kind in (types.INT, types.BIGINT, types.SMALLINT, types.TINYINT, types.MEDIUMINT):
            node.set("to", exp.DataType.build("bigint"))
        elif kind in (types.FLOAT, types.DOUBLE):
            node.set("to", exp.DataType.build("double precision", dialect="postgres"))
        elif kind in (types.VARCHAR, types.CHAR, types.NVARCHAR, types.NCHAR):
            node.set("to", exp.DataType.build("text"))
        elif kind == types.BLOB:
            node.set("to", exp.DataType.build("bytea", dialect="postgres"))

    def _literal(self, node: exp.Expression) -> None:
        if not isinstance(node, exp.Literal) or node.is_string:
            return
        text = node.name
        parent = node.parent
        if isinstance(parent, (exp.Cast, exp.Limit, exp.Offset, exp.Fetch)):
            return
        if isinstance(parent, exp.Neg):
            parent = parent.parent
        if isinstance(parent, (exp.Ordered, exp.Group, exp.Order)):
            return  # a result column's position
        if any(c in text for c in ".eE"):
            # A SQLite REAL is a double; PostgreSQL would read this as exact numeric.
            node.replace(_cast(node.copy(), "double precision"))
        elif text.isdigit() and int(text) > _INT4:
            node.replace(_cast(node.copy(), "bigint"))

    def _function(self, node: exp.Expression) -> None:
        name = (node.name if isinstance(node, exp.Anonymous) else "").lower()
        args = list(node.expressions) if isinstance(node, exp.Anonymous) else []
        if name in _REFUSED_FUNCTIONS:
            raise _Refuse(f"{name}() has no faithful PostgreSQL translation")
        if name in ("datetime", "date", "time", "julianday", "unixepoch"):
            node.replace(_time_call(name, args))
        elif name == "total":
            if len(args) != 1:
                raise _Refuse("total() takes one argument")
            node.replace(
                _cast(
                    exp.Coalesce(this=exp.Sum(this=args[0]), expressions=[exp.Literal.number(0)]),
                    "double precision",
                )
            )

    def _date(self, node: exp.Expression) -> None:
        # Older sqlglot reads date()'s first modifier as a zone argument.
        zone = node.args.get("zone")
        mods = [zone] if zone is not None else []
        node.replace(_time_call("date", [node.this, *mods, *node.expressions]))

    def _strftime(self, node: exp.Expression) -> None:
        inner = node.this
        value = inner.this if isinstance(inner, exp.TsOrDsToTimestamp) else inner
        mods = [m for m in (inner.expressions if hasattr(inner, "expressions") else [])]
        ts = _timestamp([value, *mods])
        node.replace(_call("pg_temp.dbfold_strftime", _cast(node.args["format"], "text"), ts))

    def _typeof(self, node: exp.Expression) -> None:
        raise _Refuse("typeof() has no faithful PostgreSQL translation")

    def _rand(self, node: exp.Expression) -> None:
        # SQLite's random() is a 64-bit integer, PostgreSQL's a double in [0, 1).
        node.replace(
            _cast(
                exp.Mul(
                    this=exp.Sub(this=_call("RANDOM"), expression=exp.Literal.number(0.5)),
                    expression=exp.Literal.number("18446744073709549568.0"),
                ),
                "bigint",
            )
        )

    def _column(self, node: exp.Expression) -> None:
        ident = node.this
        if not isinstance(ident, exp.Identifier):
            return
        folded = _fold(ident.name)
        real = self.t.names.get(folded)
        if folded in _ROWID and real is None:
            node.replace(self._rowid(node))
            return
        if real is not None and not ident.quoted:
            ident.set("this", real)
            ident.set("quoted", True)

    def _schema(self, node: exp.Expression) -> None:
        for ident in node.expressions:
            if isinstance(ident, exp.Identifier) and not ident.quoted:
                real = self.t.names.get(_fold(ident.name))
                if real is not None:
                    ident.set("this", real)
                    ident.set("quoted", True)

    def _table(self, node: exp.Expression) -> None:
        ident = node.this
        if isinstance(ident, exp.Identifier) and not ident.quoted:
            real = self.t.names.get(_fold(ident.name))
            if real is not None:
                ident.set("this", real)
                ident.set("quoted", True)

    def _rowid(self, col: Any) -> exp.Expression:
        """``rowid`` of a plain table: its integer primary key (PostgreSQL has no rowid)."""
        qual = _fold(col.table) if isinstance(col, exp.Column) and col.table else None
        owners: list[TableMap] = []
        for table in self.tree.find_all(exp.Table):
            mapped = self.t.by_target.get(_fold(table.name))
            if mapped is None:
                continue
            if qual is None or qual in (_fold(table.alias_or_name), _fold(mapped.legacy)):
                owners.append(mapped)
        if len({id(o) for o in owners}) != 1:
            raise _Refuse(f"{col.sql(dialect='sqlite')} is ambiguous here")
        key = owners[0].target_column(owners[0].key or "") if owners[0].key else None
        if key is None:
            raise _Refuse(f"rowid of {owners[0].legacy!r}: it has no integer primary key")
        return exp.column(key, table=col.table or None, quoted=True)


def _with_sequence(insert: str, mapped: TableMap) -> str:
    """The INSERT, also raising this source's AUTOINCREMENT high-water mark to the keys it
    inserted, in the same statement (what the SQLite adapter's TEMP trigger does)."""
    seq = quote_ident(SEQUENCE_TABLE)
    return (
        f'WITH "dbfold_ins" AS ({insert}), "dbfold_seq" AS (INSERT INTO {seq} ("name", '
        f'"source", "seq") SELECT {literal(mapped.target)}, {literal(mapped.value or "")}, '
        'MAX("dbfold_key") FROM "dbfold_ins" HAVING MAX("dbfold_key") IS NOT NULL '
        f'ON CONFLICT ("name", "source") DO UPDATE SET "seq" = GREATEST({seq}."seq", '
        'excluded."seq")) SELECT "dbfold_key", "dbfold_new" FROM "dbfold_ins"'
    )


def _timestamp(args: list[exp.Expression]) -> exp.Expression:
    array = exp.Array(expressions=[_cast(a, "text") for a in args])
    return _call("pg_temp.dbfold_time", array)


def _time_call(name: str, args: list[exp.Expression]) -> exp.Expression:
    if not args:
        args = [exp.Literal.string("now")]
    ts = _timestamp(args)
    if name == "datetime":
        return _call("TO_CHAR", ts, exp.Literal.string("YYYY-MM-DD HH24:MI:SS"))
    if name == "date":
        return _call("TO_CHAR", ts, exp.Literal.string("YYYY-MM-DD"))
    if name == "time":
        return _call("TO_CHAR", ts, exp.Literal.string("HH24:MI:SS"))
    if name == "julianday":
        return _call("pg_temp.dbfold_julian", ts)
    return _cast(_call("FLOOR", exp.Extract(this=exp.var("EPOCH"), expression=ts)), "bigint")


_HANDLERS: dict[type[exp.Expression], Callable[[_Render, Any], None]] = {
    exp.Like: _Render._like,
    exp.Mod: _Render._mod,
    exp.Is: _Render._is,
    exp.Glob: _Render._glob,
    exp.Collate: _Render._collate,
    exp.JSONExtract: _Render._json,
    exp.JSONExtractScalar: _Render._json,
    exp.GroupConcat: _Render._group_concat,
    exp.Limit: _Render._limit,
    exp.Avg: _Render._avg,
    exp.Round: _Render._round,
    exp.Cast: _Render._cast_node,
    exp.Literal: _Render._literal,
    exp.Anonymous: _Render._function,
    exp.Date: _Render._date,
    exp.TimeToStr: _Render._strftime,
    exp.Typeof: _Render._typeof,
    exp.Rand: _Render._rand,
    exp.Column: _Render._column,
    exp.Table: _Render._table,
    exp.Schema: _Render._schema,
}


def pg_translator_for(mapping: StoreMap) -> PgTranslator:
    """The (shared, cached) PostgreSQL translator of a store map."""
    found = getattr(mapping, "_dbfold_pg_translator", None)
    if found is None:
        found = PgTranslator(mapping)
        mapping._dbfold_pg_translator = found  # type: ignore[attr-defined]
    assert isinstance(found, PgTranslator)
    return found

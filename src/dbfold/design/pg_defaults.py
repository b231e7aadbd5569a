"""SQLite column defaults translated to PostgreSQL for the column's PostgreSQL type.

A plan carries a default as SQLite SQL (:func:`dbfold.design.render_sql.default_sql`). A
copy of that text into PostgreSQL DDL goes wrong in ways pgloader is known for: the SQLite
function ``datetime('now')`` does not exist there, ``DEFAULT 1`` on a ``boolean`` column is
refused, and ``DEFAULT 'now'`` on a ``timestamptz`` column is frozen at CREATE time. So
each default is parsed (sqlglot, sqlite dialect) and rebuilt:

- literals become literals of the target type (``0``/``1`` → ``false``/``true`` for
  boolean, ISO text or epoch numbers → a ``timestamptz`` literal, ``X'..'`` → bytea, valid
  JSON text → jsonb, numbers → text for a text column, as SQLite's affinity stores them);
- the SQLite clock functions (``CURRENT_TIMESTAMP``, ``CURRENT_DATE``, ``CURRENT_TIME``,
  ``datetime('now')``, ``date('now')``, ``time('now')``, ``strftime(fmt, 'now')``,
  ``julianday('now')``, ``unixepoch()``) become ``CURRENT_TIMESTAMP`` for timestamptz, the
  same text SQLite would produce for text (``to_char`` in UTC), epoch seconds for integers
  and the Julian day for reals;
- arithmetic of literals is kept (transpiled by sqlglot);
- anything else is dropped, with a note saying what and why.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from dbfold.design.pg_types import PgDefault, pg_parse_boolean, pg_parse_timestamp
from dbfold.quoting import literal

#: PostgreSQL's "now in UTC" as a timestamp without zone: SQLite's clock is UTC.
_UTC_NOW = "(now() AT TIME ZONE 'UTC')"

#: SQLite strftime conversions → PostgreSQL to_char patterns (sqlite.org/lang_datefunc.html).
_STRFTIME = {
    "%Y": "YYYY",
    "%m": "MM",
    "%d": "DD",
    "%H": "HH24",
    "%M": "MI",
    "%S": "SS",
    "%f": "SS.MS",
    "%j": "DDD",
    "%%": "%",
}

#: The format each SQLite date function produces, as a strftime format.
_FUNC_FORMATS = {
    "DATETIME": "%Y-%m-%d %H:%M:%S",
    "DATE": "%Y-%m-%d",
    "TIME": "%H:%M:%S",
    "CURRENT_TIMESTAMP": "%Y-%m-%d %H:%M:%S",
    "CURRENT_DATE": "%Y-%m-%d",
    "CURRENT_TIME": "%H:%M:%S",
}

_INTEGER_TYPES = ("bigint", "integer", "int", "int8", "int4", "smallint", "int2")
_FLOAT_TYPES = ("double precision", "real", "float8", "float4")


def _base(pg_type: str) -> str:
    """The type name without modifiers, lower case: ``numeric(8,2)`` → ``numeric``."""
    return re.sub(r"\s*\(.*\)\s*$", "", pg_type.strip().lower())


def _kind(pg_type: str) -> str:
    base = _base(pg_type)
    if base in _INTEGER_TYPES:
        return "integer"
    if base in _FLOAT_TYPES:
        return "real"
    if base in ("numeric", "decimal"):
        return "numeric"
    if base in ("boolean", "bool"):
        return "boolean"
    if base in ("timestamptz", "timestamp with time zone"):
        return "timestamptz"
    if base in ("timestamp", "timestamp without time zone"):
        return "timestamp"
    if base == "date":
        return "date"
    if base in ("jsonb", "json"):
        return "json"
    if base == "bytea":
        return "bytea"
    return "text"


def translate_default(expr: str, pg_type: str) -> PgDefault:
    """Translate one SQLite default (as the plan holds it) for a column of ``pg_type``.

    >>> translate_default("(DATETIME('now'))", "text").sql
    "to_char((now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')"
    >>> translate_default("0", "boolean").sql, translate_default("'abc'", "bigint").note
    ('false', "default 'abc' dropped: it is not a bigint value")
    """
    try:
        tree = sqlglot.parse_one(expr, read="sqlite")
    except SqlglotError:
        return PgDefault(None, f"default {expr} dropped: it is not SQL dbfold can read")
    if tree is None:
        return PgDefault(None, f"default {expr} dropped: it is empty")
    while isinstance(tree, exp.Paren):
        tree = tree.this
    assert isinstance(tree, exp.Expression)
    kind = _kind(pg_type)
    if isinstance(tree, exp.Null):
        return PgDefault(None)  # DEFAULT NULL is PostgreSQL's default already
    clock = _clock(tree, kind, pg_type)
    if clock is not None:
        return clock
    value = _literal_value(tree)
    if value is not _NOT_LITERAL:
        return _literal_default(expr, value, pg_type, kind)
    if _is_constant_arithmetic(tree) and kind in ("integer", "real", "numeric"):
        try:
            return PgDefault(f"({tree.sql(dialect='postgres')})")
        except SqlglotError:
            pass
    return PgDefault(None, f"default {expr} dropped: it has no PostgreSQL equivalent dbfold knows")


class _NotLiteral:
    pass


_NOT_LITERAL = _NotLiteral()


def _literal_value(tree: exp.Expression) -> object:
    """The Python value of a literal default (str, int, float, bytes, bool), or the marker."""
    neg = False
    if isinstance(tree, exp.Neg):
        neg, tree = True, tree.this
    if isinstance(tree, exp.Literal):
        if tree.is_string:
            return _NOT_LITERAL if neg else str(tree.this)
        text = str(tree.this)
        try:
            hex_or_int = re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", text)
            num: int | float = int(text, 0) if hex_or_int else float(text)
        except ValueError:
            return _NOT_LITERAL
        return -num if neg else num
    if neg:
        return _NOT_LITERAL
    if isinstance(tree, exp.Boolean):
        return bool(tree.this)
    if isinstance(tree, exp.HexString):
        try:
            return bytes.fromhex(str(tree.this))
        except ValueError:
            return _NOT_LITERAL
    return _NOT_LITERAL


def _literal_default(expr: str, value: object, pg_type: str, kind: str) -> PgDefault:
    def dropped(why: str) -> PgDefault:
        return PgDefault(None, f"default {expr} dropped: {why}")

    if kind == "boolean":
        b = pg_parse_boolean(value)
        return (
            PgDefault("true" if b else "false")
            if b is not None
            else dropped("it is not 0/1/true/false")
        )
    if kind in ("integer", "real", "numeric"):
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, str):
            # SQLite's numeric affinity turns the text '5' into 5; PostgreSQL casts it too.
            try:
                value = int(value) if re.fullmatch(r"\s*[-+]?\d+\s*", value) else float(value)
            except ValueError:
                return dropped(f"it is not a {pg_type} value")
        if isinstance(value, bytes):
            return dropped(f"it is not a {pg_type} value")
        assert isinstance(value, (int, float))
        if kind == "integer":
            if isinstance(value, float):
                if not value.is_integer():
                    return dropped(f"it is not a {pg_type} value")
                value = int(value)
            if not -(2**63) <= value < 2**63:
                return dropped(f"it does not fit {pg_type}")
            return PgDefault(str(value))
        if isinstance(value, float) and value != value:  # NaN
            return dropped("it is NaN")
        text = repr(value) if isinstance(value, float) else str(value)
        return PgDefault(text if not text.startswith("-") else f"({text})")
    if kind in ("timestamptz", "timestamp", "date"):
        if isinstance(value, str) and value.strip().lower() == "now":
            return PgDefault("CURRENT_TIMESTAMP")  # 'now' as a literal would freeze at CREATE
        dt = pg_parse_timestamp(value)
        if dt is None:
            return dropped("it is not a timestamp dbfold can read")
        if kind == "timestamptz":
            return PgDefault(f"{literal(dt.isoformat())}::timestamptz")
        naive = dt.replace(tzinfo=None).isoformat()
        return PgDefault(f"{literal(naive)}::{_base(pg_type)}")
    if kind == "json":
        if isinstance(value, bytes):
            return dropped("it is not JSON")
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                return dropped("it is not JSON text")
            return PgDefault(f"{literal(value)}::jsonb")
        return PgDefault(f"{literal(json.dumps(value))}::jsonb")
    if kind == "bytea":
        if isinstance(value, bytes):
            return PgDefault(f"'\\x{value.hex()}'::bytea")
        if isinstance(value, str):
            return PgDefault(f"'\\x{value.encode('utf-8').hex()}'::bytea")
        return dropped("it is not a blob")
    # text (and any type dbfold does not know, which reads a text literal)
    if isinstance(value, bytes):
        return dropped("a blob default cannot be text")
    if isinstance(value, bool):
        return PgDefault(literal("1" if value else "0"))
    if isinstance(value, float):
        return PgDefault(literal(repr(value)))
    return PgDefault(literal(str(value)))


def _string(node: exp.Expression) -> str | None:
    return str(node.this) if isinstance(node, exp.Literal) and node.is_string else None


def _clock(tree: exp.Expression, kind: str, pg_type: str) -> PgDefault | None:
    """A translation of SQLite's clock defaults, None when ``tree`` is not one."""
    name, fmt = _clock_format(tree)
    if name is None:
        return None
    shown = tree.sql(dialect="sqlite")
    if fmt is None:
        return PgDefault(
            None, f"default {shown} dropped: only the current time ('now') has an equivalent"
        )
    if kind == "timestamptz":
        if fmt in ("%s", "julianday") or _whole_timestamp(fmt):
            return PgDefault("CURRENT_TIMESTAMP")
        if fmt == "%Y-%m-%d":
            return PgDefault("date_trunc('day', CURRENT_TIMESTAMP, 'UTC')")
        return PgDefault(None, f"default {shown} dropped: its text is not a whole timestamp")
    if kind in ("timestamp", "date"):
        return PgDefault(f"{_UTC_NOW}::{'date' if kind == 'date' else 'timestamp'}")
    if fmt == "%s":
        if kind in ("integer", "numeric"):
            return PgDefault("(extract(epoch FROM CURRENT_TIMESTAMP))::bigint")
        if kind == "real":
            return PgDefault("floor(extract(epoch FROM CURRENT_TIMESTAMP))::double precision")
        if kind == "text":
            return PgDefault("((extract(epoch FROM CURRENT_TIMESTAMP))::bigint)::text")
    if fmt == "julianday":
        julian = "(extract(epoch FROM CURRENT_TIMESTAMP)::double precision / 86400.0 + 2440587.5)"
        if kind in ("real", "numeric"):
            return PgDefault(julian)
        if kind == "text":
            return PgDefault(f"({julian})::text")
        return PgDefault(None, f"default {shown} dropped: a Julian day is not {pg_type}")
    if kind == "text":
        pattern = _to_char(fmt)
        if pattern is None:
            return PgDefault(
                None, f"default {shown} dropped: its strftime format has no to_char equivalent"
            )
        return PgDefault(f"to_char({_UTC_NOW}, {literal(pattern)})")
    return PgDefault(None, f"default {shown} dropped: it gives date text, not {pg_type}")


def _call(tree: exp.Expression) -> tuple[str, list[exp.Expression]] | None:
    """A SQLite function call as (upper-case name, arguments as written), or None.

    sqlglot reads some SQLite date functions into its own nodes (``strftime`` into
    ``TimeToStr`` over ``TsOrDsToTimestamp``, ``date`` into ``Date``) and leaves the rest
    ``Anonymous``; this undoes that so the clock rules see the call as the user wrote it.
    """
    if isinstance(tree, exp.Anonymous):
        return str(tree.name).upper(), list(tree.expressions)
    if isinstance(tree, exp.TimeToStr):
        at = tree.this
        if isinstance(at, exp.TsOrDsToTimestamp):
            at = at.this
        fmt = tree.args.get("format")
        return "STRFTIME", [a for a in (fmt, at) if isinstance(a, exp.Expression)]
    if isinstance(tree, exp.Date):
        args = [tree.this] if isinstance(tree.this, exp.Expression) else []
        return "DATE", args + list(tree.expressions or [])
    return None


def _clock_format(tree: exp.Expression) -> tuple[str | None, str | None]:
    """(function name, the strftime format it produces or 'julianday'/'%s') for a clock
    default; (name, None) for a clock function not at 'now'; (None, None) otherwise."""
    if isinstance(tree, exp.CurrentTimestamp):
        return "CURRENT_TIMESTAMP", _FUNC_FORMATS["CURRENT_TIMESTAMP"]
    if isinstance(tree, exp.CurrentDate):
        return "CURRENT_DATE", _FUNC_FORMATS["CURRENT_DATE"]
    if isinstance(tree, exp.CurrentTime):
        return "CURRENT_TIME", _FUNC_FORMATS["CURRENT_TIME"]
    call = _call(tree)
    if call is None:
        return None, None
    name, args = call
    words = [_string(a) for a in args]
    if name == "STRFTIME":
        if not words or words[0] is None:
            return name, None
        fmt, words = words[0], words[1:]
    elif name in ("DATETIME", "DATE", "TIME"):
        fmt = _FUNC_FORMATS[name]
    elif name == "JULIANDAY":
        fmt = "julianday"
    elif name == "UNIXEPOCH":
        fmt = "%s"
    else:
        return None, None
    # The time value: none means now (SQLite's default); then only 'utc', which changes
    # nothing for 'now' (already UTC), may follow. 'localtime' and offsets are not carried.
    low = [w.lower() if w is not None else None for w in words]
    if low and (low[0] != "now" or any(w != "utc" for w in low[1:])):
        return name, None
    return name, fmt


#: A moment with every field distinct, to tell whether a strftime format keeps them all.
_SAMPLE = datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=timezone.utc)
_PY_STRFTIME = {"%f": "%S.{ms}", "%j": "%j", "%%": "%%"}


def _whole_timestamp(fmt: str) -> bool:
    """Whether SQLite's ``strftime(fmt, 'now')`` text is a timestamp
    :func:`pg_parse_timestamp` reads back to the second (so the column's values are
    timestamps and the default is simply the current time)."""
    if _to_char(fmt) is None:
        return False
    py = "".join(_PY_STRFTIME.get(p, p) for p in re.split(r"(%.)", fmt))
    try:
        text = _SAMPLE.strftime(py).replace("{ms}", f"{_SAMPLE.microsecond // 1000:03d}")
    except ValueError:
        return False
    got = pg_parse_timestamp(text)
    return got is not None and got.replace(microsecond=0) == _SAMPLE.replace(microsecond=0)


def _to_char(fmt: str) -> str | None:
    """A SQLite strftime format as a to_char pattern, or None for a conversion it lacks."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            conv = fmt[i : i + 2]
            if conv not in _STRFTIME:
                return None
            out.append(_STRFTIME[conv])
            i += 2
            continue
        ch = fmt[i]
        # Letters are to_char pattern characters; quote them so they stay text.
        out.append(f'"{ch}"' if ch.isalpha() else ch)
        i += 1
    return "".join(out)


def _is_constant_arithmetic(tree: exp.Expression) -> bool:
    allowed = (exp.Literal, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Paren)
    return all(isinstance(n, allowed) for n in tree.walk()) and not (
        isinstance(tree, exp.Literal) and tree.is_string
    )

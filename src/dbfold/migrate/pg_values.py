"""Values on their way into PostgreSQL: conversion, rejects, and a canonical form to compare.

SQLite keeps any value in any column; PostgreSQL holds a column to its type. Each plan
column's PostgreSQL type (:func:`dbfold.design.pg_render.pg_type`) falls in a *family*; a
source value is converted to what that family holds, exactly, or refused with a reason
(:class:`Reject`): text with a NUL character, invalid UTF-8, an integer past 64 bits in a
``bigint``, text in a number column. A refused row is never dropped: the loader keeps it in
``dbfold_rejects`` with its source, row number, column and reason.

Verification compares the two sides in one canonical form (:func:`canonical`): a source
value goes through :func:`convert` first, a target value comes back from psycopg typed, and
both end as the same plain Python value when nothing was lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from dbfold.design.pg_types import pg_parse_timestamp

#: The range of PostgreSQL's bigint (and of SQLite's integers).
BIGINT = (-(2**63), 2**63 - 1)
_FAMILIES = (
    ("int", re.compile(r"^(bigint|integer|int|int[248]|smallint|bigserial|serial)\b")),
    ("float", re.compile(r"^(double precision|float8?|real|float4)\b")),
    ("numeric", re.compile(r"^(numeric|decimal)\b")),
    ("bytes", re.compile(r"^bytea\b")),
    ("bool", re.compile(r"^bool(ean)?\b")),
    ("ts", re.compile(r"^(timestamptz|timestamp with time zone)\b")),
    ("json", re.compile(r"^jsonb?\b")),
)
#: The type psycopg is told to load each family as when it reads a target back.
LOAD_TYPE = {
    "int": "int8",
    "float": "float8",
    "numeric": "numeric",
    "text": "text",
    "bytes": "bytea",
    "bool": "bool",
    "ts": "timestamptz",
    "json": "jsonb",
}
_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"0", "f", "false", "n", "no", "off"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Reject(Exception):
    """A value PostgreSQL cannot hold in its column; the message says why."""


def family(pg_type: str) -> str:
    """The family of a PostgreSQL type name; anything unknown is held as text.

    >>> [family(t) for t in ("bigint", "numeric(10,2)", "double precision", "jsonb", "citext")]
    ['int', 'numeric', 'float', 'json', 'text']
    """
    low = pg_type.strip().lower()
    return next((name for name, pat in _FAMILIES if pat.match(low)), "text")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: str) -> str:
    if "\x00" in value:
        raise Reject("text holds a NUL character, which PostgreSQL cannot store")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # surrogates: bytes that were not UTF-8
            raise Reject("text is not valid UTF-8") from exc
    return value


def to_int(value: Any) -> int:
    """A bigint value: integers in range, integral reals; text and blobs are refused."""
    t = type(value)
    if t is int:
        if BIGINT[0] <= value <= BIGINT[1]:
            return int(value)
        raise Reject(f"integer {_show(value)} is past 64 bits")
    if t is float and value.is_integer() and BIGINT[0] <= value <= BIGINT[1]:
        return int(value)
    if t is bool:
        return int(value)
    raise Reject(f"{type(value).__name__} value {_show(value)} in an integer column")


def to_float(value: Any) -> float:
    """A double precision value: any number; text and blobs are refused."""
    if type(value) in (int, float, bool):
        return float(value)
    raise Reject(f"{type(value).__name__} value {_show(value)} in a double precision column")


def to_numeric(value: Any) -> Decimal:
    """A numeric value: numbers exactly (a real by its shortest repr), numeric text."""
    t = type(value)
    if t is int or t is bool:
        return Decimal(int(value))
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise Reject(f"{value!r} in a numeric column")
        return Decimal(repr(value))
    if t is str:
        try:
            d = Decimal(value.strip())
        except InvalidOperation as exc:
            raise Reject(f"text {_show(value)} in a numeric column") from exc
        if d.is_finite():
            return d
    raise Reject(f"{type(value).__name__} value {_show(value)} in a numeric column")


def to_text(value: Any) -> str:
    """A text value: text as it is, numbers as SQLite writes them, blobs that are UTF-8."""
    t = type(value)
    if t is str:
        return _text(value)
    if t is int:
        return str(value)
    if t is float:
        return repr(value)
    if t is bytes:
        try:
            return _text(value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise Reject("blob is not valid UTF-8 text") from exc
    if t is bool:
        return "1" if value else "0"
    raise Reject(f"{type(value).__name__} value in a text column")


def to_bytes(value: Any) -> bytes:
    """A bytea value: blobs as they are, text as its UTF-8 bytes."""
    t = type(value)
    if t is bytes:
        return bytes(value)
    if t is str:
        try:
            return str(value).encode("utf-8")
        except UnicodeEncodeError:
            return str(value).encode("utf-8", "surrogateescape")
    if t in (int, float):
        return to_text(value).encode()
    raise Reject(f"{type(value).__name__} value in a bytea column")


def to_bool(value: Any) -> bool:
    """A boolean: 0/1 and the words PostgreSQL reads as true or false."""
    t = type(value)
    if t is bool:
        return bool(value)
    if t is int and value in (0, 1):
        return bool(value)
    if t is float and value in (0.0, 1.0):
        return bool(value)
    if t is str:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise Reject(f"{type(value).__name__} value {_show(value)} in a boolean column")


def to_timestamp(value: Any) -> datetime:
    """A timestamptz: what the design probe accepts (ISO 8601, epoch seconds/milliseconds)."""
    got = pg_parse_timestamp(value)
    if got is None:
        raise Reject(f"{_show(value)} is not a timestamp")
    return got


def to_json(value: Any) -> str:
    """A jsonb document, as JSON text: text that parses, numbers; ``\\u0000`` is refused."""
    t = type(value)
    if t is str:
        _text(value)
        if "\\u0000" in value:
            raise Reject("JSON holds \\u0000, which PostgreSQL's jsonb cannot store")
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            import json

            try:
                json.loads(value)  # orjson refuses integers past 64 bits; jsonb takes them
            except ValueError as exc:
                raise Reject(f"text {_show(value)} is not JSON") from exc
        return str(value)
    if t in (int, float):
        return to_text(value)
    raise Reject(f"{type(value).__name__} value in a jsonb column")


CONVERT: dict[str, Callable[[Any], Any]] = {
    "int": to_int,
    "float": to_float,
    "numeric": to_numeric,
    "text": to_text,
    "bytes": to_bytes,
    "bool": to_bool,
    "ts": to_timestamp,
    "json": to_json,
}


def convert_row(
    row: Sequence[Any],
    converters: Sequence[Callable[[Any], Any] | None],
    names: Sequence[str],
    required: Sequence[bool] | None = None,
) -> tuple[Any, ...]:
    """Convert one row; raises :class:`Reject` naming the column. NULL stays NULL, except in
    a ``required`` column (NOT NULL or part of the key, which SQLite may still hold NULL in:
    a key that is no rowid alias)."""
    out: list[Any] = []
    for i, (value, conv, name) in enumerate(zip(row, converters, names, strict=True)):
        if value is None:
            if required is not None and required[i]:
                raise Reject(f"column {name}: NULL in a NOT NULL or key column")
            out.append(value)
            continue
        if conv is None:
            out.append(value)
            continue
        try:
            out.append(conv(value))
        except Reject as exc:
            raise Reject(f"column {name}: {exc}") from None
    return tuple(out)


# -- the canonical form verify compares ----------------------------------------------------


def _json_norm(v: Any) -> Any:
    if type(v) is float and v.is_integer():
        return int(v)
    if type(v) is dict:
        return {k: _json_norm(x) for k, x in v.items()}
    if type(v) is list:
        return [_json_norm(x) for x in v]
    return v


def _json_text_canon(text: str) -> str:
    """A source's JSON text, canonical."""
    try:
        v = orjson.loads(text)
    except orjson.JSONDecodeError:
        import json

        v = json.loads(text)
    return _json_canon(v)


def _json_canon(v: Any) -> str:
    """A JSON document (as psycopg loads jsonb), canonical: keys sorted, 2.0 as 2."""
    v = _json_norm(v)
    try:
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # an integer past 64 bits
        import json

        return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _bytes_canon(v: Any) -> bytes:
    return bytes(v)


#: Per family, how a value (converted source value, or psycopg's typed target value) is
#: put in its canonical form; None keeps the value as it is: numbers, booleans and aware
#: datetimes already compare (and hash) by value across their Python types.
CANON: dict[str, Callable[[Any], Any] | None] = {
    "int": None,
    "float": None,
    "numeric": None,
    "text": None,
    "bytes": _bytes_canon,
    "bool": None,
    "ts": None,
    "json": _json_canon,
}
#: The same for a converted source value (JSON arrives as text there).
SOURCE_CANON: dict[str, Callable[[Any], Any] | None] = {**CANON, "json": _json_text_canon}


# -- the multiset fingerprint both sides are reduced to --------------------------------------

BUCKETS = 64
MASK = (1 << 64) - 1
#: Flags that sit beside a number in the fingerprinted row, as SQL (``{e}`` is the value)
#: that SQLite and PostgreSQL both evaluate alike. CPython hashes -1 and -2 alike, and an
#: integer by its value mod 2**61 - 1: with its high 32 bits beside it, a 64-bit integer's
#: hash identifies it exactly.
FLAG_SQL: dict[str, tuple[str, ...]] = {
    "int": ("({e} = -1)", "({e} >> 32)"),
    "float": ("({e} = -1)",),
    "numeric": ("({e} = -1)",),
}
NUMBER = tuple(FLAG_SQL)


def flag_sql(family: str, expr: str) -> list[str]:
    """The flag expressions of one column (none for non-numbers)."""
    return [f.format(e=expr) for f in FLAG_SQL.get(family, ())]


#: The same flags as per-source sums, for a fingerprint taken during the copy: there the
#: rows are hashed bare (as they stream to COPY) and SQLite sums the flags in C.
AGG_SQLITE: dict[str, tuple[str, ...]] = {
    "int": ("coalesce(sum({e} = -1), 0)", "coalesce(sum({e} >> 32), 0)"),
    "float": ("coalesce(sum({e} = -1), 0)",),
    "numeric": ("coalesce(sum({e} = -1), 0)",),
}
AGG_PG: dict[str, tuple[str, ...]] = {
    "int": ("coalesce(sum(({e} = -1)::int), 0)", "coalesce(sum({e} >> 32), 0)"),
    "float": ("coalesce(sum(({e} = -1)::int), 0)",),
    "numeric": ("coalesce(sum(({e} = -1)::int), 0)",),
}


def agg_sql(families_exprs: Sequence[tuple[str, str]], *, postgres: bool) -> list[str]:
    """The flag sums of (family, expression) pairs, in SQLite's or PostgreSQL's SQL."""
    table = AGG_PG if postgres else AGG_SQLITE
    return [a.format(e=e) for fam, e in families_exprs for a in table.get(fam, ())]


def flags(family: str, v: Any) -> list[Any]:
    """The same flags computed in Python from a converted value (None for NULL)."""
    if family not in FLAG_SQL:
        return []
    if v is None:
        return [None] * len(FLAG_SQL[family])
    if family == "int":
        return [v == -1, v >> 32]
    return [v == -1]


@dataclass
class Print:
    """A multiset fingerprint of rows: their count and the sum of their hashes.

    Both sides are hashed in this one process with Python's own hash of the canonical row
    tuple, whose equality is by value across int, float, Decimal and bool (5 == 5.0 ==
    Decimal('5.00'), 1 == True) and across time zones for datetimes: exactly the sameness
    PostgreSQL's typed values have with the converted source values. ``buckets`` (the same
    split by the hash's low bits) is kept only when asked for: it is what locates a
    differing row once two fingerprints disagree.
    """

    count: int = 0
    total: int = 0
    rejected: int = 0
    buckets: list[list[int]] | None = None
    #: The flag sums (:data:`AGG_SQLITE`) when the rows were hashed without their flags.
    aggs: list[int] | None = None

    def add_flags(self, families: Sequence[str], values: Sequence[Any]) -> None:
        """Add one row's flags to the flag sums."""
        assert self.aggs is not None
        k = 0
        for fam, v in zip(families, values, strict=True):
            for f in flags(fam, v):
                self.aggs[k] += int(f or 0)
                k += 1

    def add(self, row: tuple[Any, ...]) -> None:
        """Count one canonical row."""
        self.count += 1
        self.total += hash(row)

    def add_batch(self, rows: list[tuple[Any, ...]]) -> None:
        """Count canonical rows (none rejected); the hashing loop runs in C."""
        self.count += len(rows)
        self.total += sum(map(hash, rows))

    def add_all(self, rows: Iterable[tuple[Any, ...] | None], *, buckets: bool = False) -> None:
        """Count canonical rows; None is a row the loader rejects."""
        if buckets and self.buckets is None:
            self.buckets = [[0, 0] for _ in range(BUCKETS)]
        split = self.buckets if buckets else None
        n = rejected = total = 0
        for r in rows:
            if r is None:
                rejected += 1
                continue
            h = hash(r)
            total += h
            n += 1
            if split is not None:
                b = split[h & (BUCKETS - 1)]
                b[0] += 1
                b[1] += h
        self.count += n
        self.rejected += rejected
        self.total += total

    def bucket(self, i: int) -> tuple[int, int]:
        """Rows and hash sum of bucket ``i`` (kept only when asked for)."""
        assert self.buckets is not None
        b = self.buckets[i]
        return b[0], b[1] & MASK

    @property
    def digest(self) -> str:
        """Rows, rejected rows and the hash sum, as the report shows them."""
        return f"{self.count}:{self.rejected}:{self.total & MASK:016x}"

    def same(self, other: Print) -> bool:
        """Whether both fingerprints agree."""
        return (self.count, self.rejected, self.total & MASK, self.aggs) == (
            other.count,
            other.rejected,
            other.total & MASK,
            other.aggs,
        )

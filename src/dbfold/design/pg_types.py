"""PostgreSQL column types, value parses and defaults for a plan whose target is PostgreSQL.

The design probe, the renderer and the loader share this module so they cannot disagree:
:func:`pg_parse_timestamp` is the one parse the probe accepts for a ``timestamptz`` column
and the one the loader applies to each value; :func:`pg_default` is the one translation of
a SQLite default into PostgreSQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from dbfold.plan import PlanColumn

#: Neutral type → PostgreSQL type (REAL is ``double precision``: SQLite's REAL is 8 bytes).
NEUTRAL_PG_TYPES = {
    "integer": "bigint",
    "real": "double precision",
    "text": "text",
    "blob": "bytea",
    "boolean": "boolean",
    "timestamp": "timestamptz",
    "json": "jsonb",
    "numeric": "numeric",
}

_NUMERIC_PS = re.compile(
    r"^\s*(?:NUMERIC|DECIMAL)\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)\s*$", re.IGNORECASE
)

#: PostgreSQL's limits on numeric(p, s): 1 ≤ p ≤ 1000, -1000 ≤ s ≤ 1000.
_MAX_PRECISION = 1000


def numeric_ps(declared: str | None) -> tuple[int, int] | None:
    """The precision and scale of a declared ``NUMERIC(p,s)``/``DECIMAL(p,s)``, else None.

    >>> numeric_ps("DECIMAL(10, 2)"), numeric_ps("numeric(5)"), numeric_ps("NUMERIC")
    ((10, 2), (5, 0), None)
    """
    if declared is None:
        return None
    m = _NUMERIC_PS.match(declared)
    if m is None:
        return None
    p, s = int(m.group(1)), int(m.group(2) or 0)
    if not 1 <= p <= _MAX_PRECISION or not -_MAX_PRECISION <= s <= _MAX_PRECISION:
        return None
    return p, s


def neutral_pg_type(col: PlanColumn) -> str:
    """The PostgreSQL type the neutral type (and a declared ``NUMERIC(p,s)``) gives.

    >>> neutral_pg_type(PlanColumn("a", "real")), neutral_pg_type(PlanColumn("b", "odd"))
    ('double precision', 'text')
    >>> neutral_pg_type(PlanColumn("c", "numeric", declared="DECIMAL(8,2)"))
    'numeric(8,2)'
    """
    if col.type == "numeric":
        ps = numeric_ps(col.declared)
        if ps is not None:
            return f"numeric({ps[0]},{ps[1]})"
    if col.type == "blob" and col.declared is None:
        # No declared type: SQLite gives no affinity and keeps whatever was stored, so the
        # one PostgreSQL type that holds every such value as written is text.
        return "text"
    return NEUTRAL_PG_TYPES.get(col.type, "text")


def pg_type(col: PlanColumn) -> str:
    """The column's final PostgreSQL type: the plan's ``pg_type``, else the neutral mapping.

    >>> pg_type(PlanColumn("a", "integer")), pg_type(PlanColumn("a", "integer", pg_type="text"))
    ('bigint', 'text')
    """
    if col.pg_type:
        return col.pg_type
    return neutral_pg_type(col)


# --- timestamps ---------------------------------------------------------------------------

#: Epoch numbers at or past this magnitude are milliseconds: 1e11 seconds is the year 5138,
#: while 1e11 milliseconds is 1973-03-03, so every plausible date of either kind sits on its
#: own side.
EPOCH_MS_FROM = 100_000_000_000
#: Beyond this magnitude a number is neither plausible seconds nor milliseconds (year 5138 in
#: milliseconds); it is not a timestamp.
_EPOCH_MAX = 100_000_000_000_000

_ISO = re.compile(
    r"""^\s*
    (?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
    (?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?
    \s*(?P<z>Z|z|[+-]\d{2}(?::?\d{2})?)?
    \s*$""",
    re.VERBOSE,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def pg_parse_timestamp(value: object) -> datetime | None:
    """The aware UTC datetime a value means, or None when it is not a timestamp.

    Accepted: ISO 8601 text (``YYYY-MM-DD``, with ``T`` or a space and ``HH:MM[:SS[.f]]``,
    an optional zone ``Z``/``±HH[:MM]``; without a zone the time is UTC, as SQLite's
    date functions have it), and int/float epoch numbers: seconds below
    :data:`EPOCH_MS_FROM` in magnitude, milliseconds from it. Numbers that look like
    Julian days (:data:`JULIAN_DAYS`, a million and more but not yet 1970-03-04 in
    seconds) are refused rather than read as January 1970. Booleans, NaN, infinities,
    dates PostgreSQL's ``timestamptz`` cannot hold in this form (years before 1 or after
    9999) and everything else give None. The probe accepts a column as ``timestamptz``
    only when this parses every value, and the loader converts each value with it.

    >>> pg_parse_timestamp("2024-03-01 12:30:00")
    datetime.datetime(2024, 3, 1, 12, 30, tzinfo=datetime.timezone.utc)
    >>> pg_parse_timestamp("2024-03-01T12:30:00+02:00").hour
    10
    >>> pg_parse_timestamp(1700000000).year, pg_parse_timestamp(1700000000000).year
    (2023, 2023)
    >>> pg_parse_timestamp("yesterday"), pg_parse_timestamp(True)
    (None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if isinstance(value, bytes):
        return None
    if not isinstance(value, str):
        return None
    m = _ISO.match(value)
    if m is None:
        return None
    try:
        frac = m.group("f") or ""
        micro = int((frac + "000000")[:6]) if frac else 0
        dt = datetime(
            int(m.group("y")),
            int(m.group("mo")),
            int(m.group("d")),
            int(m.group("h") or 0),
            int(m.group("mi") or 0),
            int(m.group("s") or 0),
            micro,
            tzinfo=_zone(m.group("z")),
        )
        return dt.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _zone(z: str | None) -> timezone:
    if z is None or z in ("Z", "z"):
        return timezone.utc
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(z)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


#: Numbers in this range look like Julian days (SQLite's ``julianday()``: 2,460,000 is
#: 2023), which read as epoch seconds would be January–March 1970; they are not timestamps.
JULIAN_DAYS = (1_000_000.0, 5_373_484.5)


def looks_julian(value: object) -> bool:
    """Whether a number is more likely a Julian day than epoch seconds."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and JULIAN_DAYS[0] <= value < JULIAN_DAYS[1]
    )


def _from_epoch(value: float) -> datetime | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    mag = abs(value)
    if mag >= _EPOCH_MAX or looks_julian(value):
        return None
    try:
        if mag >= EPOCH_MS_FROM:
            if isinstance(value, int):
                return _EPOCH + timedelta(milliseconds=value)
            return _EPOCH + timedelta(milliseconds=value)
        return _EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        return None


def is_epoch_ms(value: object) -> bool:
    """Whether :func:`pg_parse_timestamp` reads this number as milliseconds."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and EPOCH_MS_FROM <= abs(value) < _EPOCH_MAX
    )


# --- booleans -----------------------------------------------------------------------------

_TRUE_TEXT = frozenset({"true", "t"})
_FALSE_TEXT = frozenset({"false", "f"})


def pg_parse_boolean(value: object) -> bool | None:
    """The boolean a value means where it is 0/1/true/false, else None.

    Integers 0 and 1 (and floats 0.0/1.0, which SQLite may store for them), Python
    booleans, and the texts ``true``/``false`` (any case; ``t``/``f`` too) qualify.

    >>> [pg_parse_boolean(v) for v in (0, 1, True, "FALSE", 2, "yes")]
    [False, True, True, False, None, None]
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return None if value not in (0, 1) else value == 1
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE_TEXT:
            return True
        if low in _FALSE_TEXT:
            return False
    return None


# --- defaults -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PgDefault:
    """A column default translated for PostgreSQL: the SQL, or None with the reason."""

    sql: str | None
    note: str | None = None


def pg_default(col: PlanColumn) -> PgDefault:
    """The column's default as PostgreSQL SQL matching its :func:`pg_type`.

    See :mod:`dbfold.design.pg_defaults` for the rules; this is the entry point the
    renderer and the design rule share.

    >>> pg_default(PlanColumn("c", "timestamp", default="CURRENT_TIMESTAMP")).sql
    'CURRENT_TIMESTAMP'
    >>> pg_default(PlanColumn("b", "boolean", default="1")).sql
    'true'
    """
    from dbfold.design.pg_defaults import translate_default

    if col.default is None:
        return PgDefault(None)
    return translate_default(col.default, pg_type(col))


# --- names --------------------------------------------------------------------------------

#: PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently truncated to this many bytes.
PG_NAME_BYTES = 63


def name_bytes(name: str) -> int:
    """The length of a name in PostgreSQL's terms (UTF-8 bytes)."""
    return len(name.encode("utf-8"))


def fit_name(name: str, limit: int = PG_NAME_BYTES, *, salt: str = "") -> str:
    """``name`` if it fits in ``limit`` UTF-8 bytes, else a truncation plus a short hash.

    The hash is of the whole name (and ``salt``, to tell apart names that would still
    collide), so the result is stable across runs and distinct names rarely meet; the cut
    never splits a UTF-8 character.

    >>> fit_name("short")
    'short'
    >>> long = "x" * 70
    >>> len(fit_name(long).encode()), fit_name(long)[:55] == "x" * 54 + "_"
    (63, True)
    """
    import hashlib

    if name_bytes(name) <= limit and not salt:
        return name
    digest = hashlib.sha1((name + "\x00" + salt).encode("utf-8")).hexdigest()[:8]
    return truncate_bytes(name, limit - len(digest) - 1) + "_" + digest


def truncate_bytes(name: str, limit: int) -> str:
    """The longest prefix of ``name`` whose UTF-8 form fits in ``limit`` bytes.

    >>> truncate_bytes("ééé", 5)
    'éé'
    """
    raw = name.encode("utf-8")[:limit]
    return raw.decode("utf-8", errors="ignore")


# --- choosing a type from the values seen -------------------------------------------------

#: Integer values past this magnitude do not fit ``bigint``.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class ValueFacts:
    """What a probe found about the values of one target column (all sources together).

    ``counts`` are non-null values by kind: ``integer``, ``real``, ``text``, ``blob``,
    ``boolean`` (JSON true/false), ``object``, ``array``. The ``*_ok`` flags are None where
    not checked, else whether *every* value passed: :func:`pg_parse_boolean`,
    :func:`pg_parse_timestamp`, JSON text, and a declared ``numeric(p,s)`` holding each
    number exactly. ``big_integers`` counts integers past 64 bits; ``epoch_ms`` says the
    timestamps include epoch numbers read as milliseconds (worth saying).
    """

    counts: Mapping[str, int] = field(default_factory=dict)
    boolean_ok: bool | None = None
    timestamp_ok: bool | None = None
    timestamp_bad: str | None = None
    json_ok: bool | None = None
    numeric_ok: bool | None = None
    big_integers: int = 0
    epoch_ms: bool = False

    def merged(self, other: ValueFacts) -> ValueFacts:
        """The facts of two sources feeding one column."""
        counts = dict(self.counts)
        for k, n in other.counts.items():
            counts[k] = counts.get(k, 0) + n

        def both(a: bool | None, b: bool | None) -> bool | None:
            return None if a is None and b is None else (a is not False and b is not False)

        return ValueFacts(
            counts=counts,
            boolean_ok=both(self.boolean_ok, other.boolean_ok),
            timestamp_ok=both(self.timestamp_ok, other.timestamp_ok),
            timestamp_bad=self.timestamp_bad or other.timestamp_bad,
            json_ok=both(self.json_ok, other.json_ok),
            numeric_ok=both(self.numeric_ok, other.numeric_ok),
            big_integers=self.big_integers + other.big_integers,
            epoch_ms=self.epoch_ms or other.epoch_ms,
        )


@dataclass(frozen=True)
class TypeChoice:
    """The PostgreSQL type chosen for a column, and why when it is not the obvious one."""

    pg_type: str
    why: str | None = None


def _counted(counts: Mapping[str, int]) -> str:
    ranked = sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{n} {k}" for k, n in ranked)


def choose_pg_type(col: PlanColumn, facts: ValueFacts | None) -> TypeChoice:
    """The PostgreSQL type of a plan column, from its values where they were probed.

    Without facts the neutral mapping (:func:`neutral_pg_type`) stands. With facts:

    - no values at all: the neutral mapping;
    - one kind of number: integers → ``bigint`` (``numeric`` when some are past 64 bits),
      reals → ``double precision``; integers and reals → ``numeric`` in an integer or
      numeric column (it holds both exactly) and ``double precision`` in a real one;
      a declared ``numeric(p,s)`` is kept only when every number fits it;
    - ``boolean`` only when every value is 0/1/true/false;
    - ``timestamptz`` only when every value parses (:func:`pg_parse_timestamp`);
    - ``jsonb`` only when every value is JSON;
    - text alone → ``text``, blobs alone → ``bytea``;
    - any other mix (``'abc'`` in an INTEGER column) → ``text``, which holds every value.

    >>> choose_pg_type(PlanColumn("n", "integer"), ValueFacts({"integer": 5, "text": 2})).why
    'mixed values (5 integer, 2 text): text holds every one'
    >>> choose_pg_type(PlanColumn("b", "boolean"), ValueFacts({"integer": 3}, boolean_ok=True))
    TypeChoice(pg_type='boolean', why=None)
    """
    base = neutral_pg_type(col)
    if facts is None:
        return TypeChoice(base)
    counts = {k: n for k, n in facts.counts.items() if n}
    kinds = set(counts)
    if not kinds:
        return TypeChoice(base)
    if col.type == "boolean":
        if facts.boolean_ok:
            return TypeChoice("boolean")
        return _fallback(col, facts, counts, "not every value is 0/1/true/false")
    if col.type == "timestamp":
        if facts.timestamp_ok:
            why = None
            if facts.epoch_ms:
                why = "epoch numbers of 1e11 and more are read as milliseconds"
            return TypeChoice("timestamptz", why)
        if facts.timestamp_ok is None and kinds <= {"text"}:
            return TypeChoice(base)
        bad = f" (such as {facts.timestamp_bad})" if facts.timestamp_bad else ""
        return _fallback(col, facts, counts, f"not every value is a timestamp{bad}")
    if col.type == "json":
        if facts.json_ok is False:
            return TypeChoice("text", "not every value is JSON: kept as text")
        return TypeChoice("jsonb")
    return _fallback(col, facts, counts, None)


def _fallback(
    col: PlanColumn, facts: ValueFacts, counts: Mapping[str, int], why: str | None
) -> TypeChoice:
    """The type the kinds of values give, once the column's own type has not held."""
    kinds = set(counts)
    lead = f"{why}: " if why else ""
    if facts.big_integers and kinds <= {"integer", "real"}:
        # Analyze counts an integer past 64 bits as a real (it does not fit an int64).
        return TypeChoice(
            "numeric",
            f"{lead}{_integers(facts.big_integers)} past 64 bits: numeric holds them",
        )
    if kinds == {"integer"}:
        if col.type == "numeric" and numeric_ps(col.declared) is not None:
            return _numeric_ps(col, facts, lead)
        if why is not None or col.type not in ("integer", "numeric", "boolean"):
            return TypeChoice("bigint", f"{lead}every value is an integer")
        return TypeChoice("bigint")
    if kinds == {"real"} or (kinds == {"integer", "real"} and col.type == "real"):
        if col.type == "numeric" and numeric_ps(col.declared) is not None:
            return _numeric_ps(col, facts, lead)
        if col.type == "numeric":
            return TypeChoice("numeric")
        if why is not None or col.type != "real":
            return TypeChoice("double precision", f"{lead}every value is a real number")
        return TypeChoice("double precision")
    if kinds == {"integer", "real"}:
        if col.type == "numeric" and numeric_ps(col.declared) is not None:
            return _numeric_ps(col, facts, lead)
        text = f"{lead}integers and reals ({_counted(counts)}): numeric holds both exactly"
        return TypeChoice("numeric", None if col.type == "numeric" and not why else text)
    if kinds == {"text"}:
        if why is not None or col.type not in ("text", "blob"):
            return TypeChoice("text", f"{lead}every value is text")
        return TypeChoice("text")
    if kinds == {"blob"}:
        if why is not None or col.type != "blob":
            return TypeChoice("bytea", f"{lead}every value is a blob")
        return TypeChoice("bytea")
    if kinds == {"boolean"}:
        return TypeChoice("boolean", None if col.type == "boolean" else "every value is a boolean")
    if kinds <= {"object", "array", "integer", "real", "text", "boolean"} and kinds & {
        "object",
        "array",
    }:
        return TypeChoice("jsonb", f"{lead}values are JSON documents ({_counted(counts)})")
    return TypeChoice("text", f"{lead}mixed values ({_counted(counts)}): text holds every one")


def _integers(n: int) -> str:
    return "1 integer is" if n == 1 else f"{n} integers are"


def _numeric_ps(col: PlanColumn, facts: ValueFacts, lead: str) -> TypeChoice:
    ps = numeric_ps(col.declared)
    assert ps is not None
    if facts.numeric_ok is False:
        return TypeChoice(
            "numeric",
            f"{lead}some values do not fit {col.declared} exactly: numeric holds them unrounded",
        )
    return TypeChoice(f"numeric({ps[0]},{ps[1]})", lead.rstrip(": ") or None)


def numeric_fits(value: object, precision: int, scale: int) -> bool:
    """Whether a number is held exactly by ``numeric(precision, scale)`` (a real by its
    shortest repr, as the loader converts it); non-numbers do not fit.

    >>> numeric_fits(12.5, 5, 2), numeric_fits(3.14159, 5, 2), numeric_fits(123456, 5, 2)
    (True, False, False)
    """
    from decimal import Decimal, InvalidOperation

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        d = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    except (InvalidOperation, ValueError):
        return False
    if not d.is_finite():
        return False
    _sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    frac = max(0, -exp)
    if frac > scale:
        return False
    whole = max(0, len(digits) + exp) if any(digits) else 0
    return whole <= precision - scale


def shown_type(col: PlanColumn, postgres: bool) -> str:
    """The type a report shows for a column: its PostgreSQL type in a PostgreSQL plan,
    the neutral type otherwise.

    >>> shown_type(PlanColumn("a", "real"), True), shown_type(PlanColumn("a", "real"), False)
    ('double precision', 'real')
    """
    return pg_type(col) if postgres else col.type

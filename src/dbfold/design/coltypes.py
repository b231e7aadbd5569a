"""Dialect-neutral column types: from declared SQLite types and from observed JSON values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Value types (as counted in ``Column.observed``) that are scalar in a relational column.
_SCALAR = {"boolean": "boolean", "integer": "integer", "real": "real", "text": "text"}


def normalize_declared(declared: str) -> str:
    """Map a declared SQLite type to a neutral type, following SQLite's affinity rules.

    Names that say more than the affinity (``BOOLEAN``, ``DATETIME``, ``JSON``) keep that
    meaning; the rest fall to the affinity SQLite would give them.

    >>> [normalize_declared(t) for t in ("INT", "varchar(20)", "DATETIME", "bool", "FLOAT")]
    ['integer', 'text', 'timestamp', 'boolean', 'real']
    >>> normalize_declared(""), normalize_declared("DECIMAL(10,2)")
    ('blob', 'numeric')
    """
    t = declared.strip().upper()
    if not t:
        return "blob"
    if t.startswith("BOOL"):
        return "boolean"
    if t in ("JSON", "JSONB"):
        return "json"
    if "DATE" in t or "TIME" in t:
        return "timestamp"
    # SQLite's own rules, in its order (https://sqlite.org/datatype3.html §3.1).
    if "INT" in t:
        return "integer"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "text"
    if "BLOB" in t:
        return "blob"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "real"
    return "numeric"


def unify_values(observed: Mapping[str, int] | Iterable[str]) -> tuple[str, bool]:
    """The neutral type every observed value fits, and whether the values were mixed.

    integer+real → real; anything with text → text; otherwise json (objects, arrays, and
    mixes such as boolean+integer, where no scalar type holds every value unchanged).

    >>> unify_values({"integer": 3, "real": 1}), unify_values({"text": 1, "integer": 2})
    (('real', True), ('text', True))
    >>> unify_values({"boolean": 1, "integer": 1}), unify_values({"null": 4})
    (('json', True), ('text', False))
    """
    kinds = {k for k in observed if k != "null"}
    if not kinds:
        return "text", False
    if len(kinds) == 1:
        (only,) = kinds
        if only in _SCALAR:
            return _SCALAR[only], False
        return ("blob", False) if only == "blob" else ("json", False)
    if kinds == {"integer", "real"}:
        return "real", True
    if "text" in kinds and not kinds & {"object", "array"}:
        return "text", True
    return "json", True


def unify_types(a: str, b: str) -> str | None:
    """The neutral type that holds both ``a`` and ``b`` values, or None if there is none.

    >>> unify_types("integer", "real"), unify_types("text", "text"), unify_types("text", "blob")
    ('real', 'text', None)
    """
    if a == b:
        return a
    if {a, b} == {"integer", "real"}:
        return "real"
    if {a, b} <= {"integer", "real", "numeric"}:
        return "numeric"
    return None

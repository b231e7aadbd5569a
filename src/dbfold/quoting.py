"""Quoting identifiers and literals for SQL text: the one place the pipeline does it.

A leaf module (no dbfold imports), so scan, design, migrate, provenance and the adapters
share it; the runtime keeps its own ``quote_ident`` because it stands alone.
"""

from __future__ import annotations


def quote(name: str) -> str:
    """Quote an identifier the standard way (SQLite and PostgreSQL agree on it).

    >>> quote('"); DROP TABLE x; --')
    '\"""); DROP TABLE x; --"'
    """
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote a string literal.

    >>> literal("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"

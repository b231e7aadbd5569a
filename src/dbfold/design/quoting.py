"""Quoting identifiers and literals for SQL text."""

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

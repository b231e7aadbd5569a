"""Collations: which a plan may carry, and how one is spelled in it.

SQLite compares text with a column's collation: ``BINARY`` (the default), ``NOCASE`` or
``RTRIM``, or one the program registers on its own connection (``create_collation``). The
plan carries every collation other than BINARY that SQLite knows in a fresh connection (the
three built-in ones, and any compiled in, such as ICU's); a collation only the legacy
program registers cannot be created by the migration (it runs none of the program's code),
so the column compares with BINARY and design says so.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache

from dbfold.quoting import quote

#: SQLite's built-in collations, as the plan spells them.
BUILTIN = ("BINARY", "NOCASE", "RTRIM")


@lru_cache(maxsize=256)
def known(name: str) -> bool:
    """Whether SQLite knows collation ``name`` in a fresh connection (case-insensitive).

    >>> known("nocase"), known("Rtrim"), known("reverse")
    (True, True, False)
    """
    if "\x00" in name:
        return False
    con = sqlite3.connect(":memory:")
    try:
        con.execute(f"CREATE TABLE t (x COLLATE {quote(name)})")
    except sqlite3.Error:
        return False
    finally:
        con.close()
    return True


def canonical(name: str) -> str:
    """A built-in collation in capitals, any other as it was written.

    >>> canonical("nocase"), canonical("My_Coll")
    ('NOCASE', 'My_Coll')
    """
    return name.upper() if name.upper() in BUILTIN else name


def sql(name: str) -> str:
    """The collation as SQL after ``COLLATE``: a built-in bare, any other quoted.

    >>> sql("nocase"), sql('we"ird')
    ('NOCASE', '"we""ird"')
    """
    return name.upper() if name.upper() in BUILTIN else quote(name)


def unknown_note(name: str) -> str:
    """What a column whose source collation SQLite does not know is told (and what to do)."""
    return (
        f"the source compares it with collation {name!r}, which the program that owns the"
        " store registers (sqlite3 create_collation); dbfold cannot create it in the unified"
        " database, so this column compares with BINARY. Where the legacy code relied on it,"
        f' compare with an explicit COLLATE in the queries, set "collation" here to'
        " NOCASE or RTRIM if one of them compares the same, or recreate the column with"
        f" COLLATE {sql(name)} from a connection that registers it after the migration"
    )

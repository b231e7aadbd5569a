"""Describe dbm/shelve databases and pickle files without ever unpickling anything.

A shelve is a dbm database whose values are pickles; unpickling runs arbitrary code, so
values are only recognised by their first bytes and reported as the opaque type ``pickle``.
``dbm.dumb`` databases are read from their ``.dir`` index directly (a text file of
``(key, (offset, size))`` tuples); ``dbm.gnu``/``dbm.ndbm`` use their modules, read-only.
``dbm.sqlite3`` (Python 3.13+, and there the default of ``dbm`` and ``shelve``) is a SQLite
file holding one ``Dict`` table; it is recognised by that schema (:func:`is_dbm_sqlite3`,
whatever the running Python has) and read through sqlite3 under the same safety rules as
any SQLite source (:func:`dbfold.sqlitefiles.readable`).
"""

from __future__ import annotations

import ast
import importlib
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dbfold.model import Column, Problem, Store, Table
from dbfold.scan.detect import is_pickle
from dbfold.sqlitefiles import MAGIC, SourceReadError, read_head, readable

#: The schema ``dbm.sqlite3`` creates: ``(type, name, tbl_name, sql)`` of each sqlite_schema
#: row, the SQL with its white space folded.
_DBM_SQLITE3_SCHEMA = (
    (
        "table",
        "Dict",
        "Dict",
        "CREATE TABLE Dict ( key BLOB UNIQUE NOT NULL, value BLOB NOT NULL )",
    ),
    ("index", "sqlite_autoindex_Dict_1", "Dict", None),
)
#: Seconds to wait for a writer's lock on a dbm.sqlite3 file (as for SQLite sources).
_LOCK_TIMEOUT = 0.5


def _is_dbm_schema(rows: Iterable[tuple[Any, ...]]) -> bool:
    found = tuple(
        (t, n, tbl, " ".join(sql.split()) if isinstance(sql, str) else sql)
        for t, n, tbl, sql in rows
    )
    return found == _DBM_SQLITE3_SCHEMA


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A SQLite varint at ``at``: (value, offset after it). IndexError past the data."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def _record(data: bytes) -> list[Any]:
    """The values of one SQLite record (text decoded as UTF-8; only what a schema holds)."""
    size, at = _varint(data, 0)
    types = []
    while at < size:
        serial, at = _varint(data, at)
        types.append(serial)
    values: list[Any] = []
    at = size
    for serial in types:
        if serial == 0:
            values.append(None)
        elif 1 <= serial <= 6:
            width = (1, 2, 3, 4, 6, 8)[serial - 1]
            values.append(int.from_bytes(data[at : at + width], "big", signed=True))
            at += width
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial >= 12:
            width = (serial - 12) // 2
            chunk = data[at : at + width]
            if len(chunk) < width:
                raise IndexError("record runs past the data")
            values.append(chunk.decode("utf-8") if serial % 2 else chunk)
            at += width
        else:  # a float (7) or a reserved type: no schema row of dbm.sqlite3 has one
            raise ValueError(f"serial type {serial}")
    return values


def _head_verdict(head: bytes, wal: bool) -> bool | None:
    """Whether page 1 in a SQLite file's first bytes holds exactly the dbm.sqlite3 schema,
    or None when the bytes cannot tell (page 1 not all read, or no schema there while a
    ``-wal`` may hold it)."""
    if len(head) < 108 or not head.startswith(MAGIC):
        return None  # e.g. only the magic, for a file this process has open
    page_size = int.from_bytes(head[16:18], "big")
    usable = (65536 if page_size == 1 else page_size) - head[20]
    if head[100] != 0x0D:  # an interior page: more schema than dbm.sqlite3 makes
        return False
    cells = int.from_bytes(head[103:105], "big")
    if cells == 0:
        return None if wal else False
    if cells != len(_DBM_SQLITE3_SCHEMA):
        return False
    rows: list[tuple[Any, ...]] = []
    try:
        for i in range(cells):
            at = int.from_bytes(head[108 + 2 * i : 110 + 2 * i], "big")
            payload, at = _varint(head, at)
            _, at = _varint(head, at)  # the rowid
            if payload > usable - 35:
                return False  # a schema row on overflow pages: not dbm.sqlite3's
            if at + payload > len(head):
                return None  # a bigger page than was read
            values = _record(head[at : at + payload])
            if len(values) != 5:
                return False
            rows.append((values[0], values[1], values[2], values[4]))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None
    return _is_dbm_schema(rows)


def is_dbm_sqlite3(path: Path, head: bytes, wal: bool) -> bool:
    """Whether the SQLite file at ``path`` (``head``: its first bytes) is a ``dbm.sqlite3``
    database: exactly the ``Dict`` table that module makes, and nothing else.

    Decided from page 1 in ``head`` (nothing more is read for other databases); SQLite
    itself is asked, read-only as any source is read, only when those bytes cannot tell: a
    file this process has open gives only its magic, and a WAL database's schema may still
    be in its ``-wal`` (``wal``: one is beside it).
    """
    verdict = _head_verdict(head, wal)
    if verdict is not None:
        return verdict
    try:
        with readable(path, timeout=_LOCK_TIMEOUT) as view:
            con = sqlite3.connect(view.uri, uri=True, timeout=_LOCK_TIMEOUT)
            try:
                found = con.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
                ).fetchall()
            finally:
                con.close()
    except (SourceReadError, sqlite3.Error, OSError):
        return False  # the SQLite reader says what is wrong with it
    return _is_dbm_schema(found)


def _looks_pickled(value: bytes) -> bool:
    # Protocol 2+ starts with PROTO; protocols 0/1 end with STOP ('.').
    return is_pickle(value) or (
        len(value) > 1 and value.endswith(b".") and value[:1] in b"(]}SVIFNcL"
    )


def _kv_store(
    rel: str, name: str, size: int, keys: int, pickled: bool | None, problems: list[Problem]
) -> Store:
    kind = "shelve" if pickled else "dbm"
    value_type = "pickle" if pickled else "blob"
    table = Table(
        name=name,
        rows=keys,
        columns=(
            Column("key", "text", nullable=False, primary_key=True, present=keys, hints=("id",)),
            Column("value", value_type, nullable=False, present=keys),
        ),
        primary_key=("key",),
        layout="kv",
        key="key",
    )
    if pickled:
        problems.append(
            Problem(
                rel,
                f"{rel}: shelve values are pickles; dbfold never unpickles them (that runs "
                "code) — the owning code must convert them, e.g. to JSON, before migrating",
                "warning",
            )
        )
    return Store(rel, kind, size, tables=(table,), problems=tuple(problems))


#: A ``dbm.dumb`` index line (``repr((key, (pos, size)))`` as dbm.dumb writes it) whose key
#: holds no quote or backslash; other lines are read with ``ast.literal_eval``.
_DUMB_LINE = re.compile(r"'([^'\\]*)', \((\d+), (\d+)\)\Z")


def read_dumb(dir_path: Path, rel: str, size: int) -> Store:
    """Describe a ``dbm.dumb`` database from its ``NAME.dir`` index (``rel`` is NAME)."""
    keys: dict[str, tuple[int, int]] = {}
    problems: list[Problem] = []
    with open(dir_path, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip()
            if not line:
                continue
            plain = _DUMB_LINE.match(line)
            if plain is not None:  # the usual line: no literal_eval (a compile) needed
                keys[plain[1]] = (int(plain[2]), int(plain[3]))
                continue
            try:
                key, pos_siz = ast.literal_eval(line)
                keys[key] = (int(pos_siz[0]), int(pos_siz[1]))
            except (ValueError, SyntaxError, TypeError, IndexError):
                problems.append(
                    Problem(
                        rel, f"{rel}: damaged index line {lineno} in {dir_path.name}", line=lineno
                    )
                )
    pickled: bool | None = None
    if keys:
        pos, siz = next(iter(keys.values()))
        with open(dir_path.with_suffix(".dat"), "rb") as f:
            f.seek(pos)
            pickled = _looks_pickled(f.read(min(siz, 64 * 1024)))
    return _kv_store(rel, Path(rel).name, size, len(keys), pickled, problems)


def read_dbm_sqlite3(path: Path, rel: str, size: int) -> Store:
    """Describe a ``dbm.sqlite3`` database (see :func:`is_dbm_sqlite3`), on any Python.

    Read like every SQLite source: a read-only URI under SQLite's locks, or a private copy
    of a WAL database nothing has open, so nothing appears beside it.
    """
    try:
        with readable(path, timeout=_LOCK_TIMEOUT) as view:
            con = sqlite3.connect(view.uri, uri=True, timeout=_LOCK_TIMEOUT)
            try:
                con.execute("BEGIN")  # the count and the sample of one moment
                (keys,) = con.execute("SELECT COUNT(*) FROM Dict").fetchone()
                row = con.execute("SELECT value FROM Dict ORDER BY rowid LIMIT 1").fetchone()
            finally:
                con.close()
    except (SourceReadError, sqlite3.Error) as exc:
        why = str(exc) if isinstance(exc, SourceReadError) else f"cannot be read ({exc})"
        return Store(
            rel,
            "dbm",
            size,
            problems=(Problem(rel, f"{rel}: a dbm.sqlite3 database that {why}"),),
        )
    pickled: bool | None = None
    if row is not None:
        first = row[0].encode("utf-8") if isinstance(row[0], str) else row[0]
        pickled = isinstance(first, bytes) and _looks_pickled(first)
    return _kv_store(rel, Path(rel).name, size, int(keys), pickled, [])


def read_dbm(path: Path, rel: str, size: int, module: str) -> Store:
    """Describe a ``dbm.gnu`` or ``dbm.ndbm`` database, read-only, if this Python has it
    (a ``dbm.sqlite3`` file, whatever ``module`` says, by :func:`read_dbm_sqlite3`)."""
    if read_head(path, len(MAGIC)) == MAGIC:
        return read_dbm_sqlite3(path, rel, size)
    try:
        mod: Any = importlib.import_module(module)
    except ImportError:
        return Store(
            rel,
            "dbm",
            size,
            problems=(
                Problem(
                    rel,
                    f"{rel}: a {module} database, but this Python lacks the {module} module, so "
                    "its keys were not counted; install it (e.g. python3-gdbm) and re-run",
                    "warning",
                ),
            ),
        )
    flag = "ru" if module == "dbm.gnu" else "r"
    open_path = str(path)[:-3] if module == "dbm.ndbm" and str(path).endswith(".db") else str(path)
    db = mod.open(open_path, flag)
    try:
        keys = 0
        first: bytes | None = None
        for k in db.keys():  # noqa: SIM118 (dbm objects are not iterable)
            if first is None:
                first = db[k]
            keys += 1
    finally:
        db.close()
    pickled = _looks_pickled(first) if first is not None else None
    return _kv_store(rel, Path(rel).name, size, keys, pickled, [])


def read_pickle(rel: str, size: int) -> Store:
    """A pickle file: recognised, never loaded."""
    return Store(
        rel,
        "pickle",
        size,
        problems=(
            Problem(
                rel,
                f"{rel}: a pickle file; dbfold never loads pickles (that runs code) — convert "
                "it with the code that owns it (e.g. load it and write JSON) to migrate it",
                "warning",
            ),
        ),
    )

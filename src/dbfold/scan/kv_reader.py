"""Describe dbm/shelve databases and pickle files without ever unpickling anything.

A shelve is a dbm database whose values are pickles; unpickling runs arbitrary code, so
values are only recognised by their first bytes and reported as the opaque type ``pickle``.
``dbm.dumb`` databases are read from their ``.dir`` index directly (a text file of
``(key, (offset, size))`` tuples); ``dbm.gnu``/``dbm.ndbm`` use their modules, read-only.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

from dbfold.model import Column, Problem, Store, Table
from dbfold.scan.detect import is_pickle


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


def read_dbm(path: Path, rel: str, size: int, module: str) -> Store:
    """Describe a ``dbm.gnu`` or ``dbm.ndbm`` database, read-only, if this Python has it."""
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

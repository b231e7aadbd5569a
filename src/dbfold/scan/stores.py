"""``scan_stores()``: find every data store under a project root and describe it.

The walk (:mod:`~dbfold.scan.walk`) yields files, :mod:`~dbfold.scan.detect` decides what
each one is from its content, and one reader per kind describes it. Sources are only read.
Every failure becomes a :class:`~dbfold.model.Problem`; the scan always goes on.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dbfold.errors import ScanError
from dbfold.model import Problem, Skipped, Store
from dbfold.scan.csv_reader import read_csv
from dbfold.scan.detect import HEAD_BYTES, Detection, detect
from dbfold.scan.json_reader import read_json, read_jsonl
from dbfold.scan.kv_reader import read_dbm, read_dumb, read_pickle
from dbfold.scan.sqlite_reader import read_sqlite
from dbfold.scan.walk import VANISHED, FileEntry, WalkLog, display, walk

__all__ = ["StoreScan", "scan_stores"]


@dataclass(frozen=True)
class StoreScan:
    """What :func:`scan_stores` found.

    Attributes:
        stores: every store, sorted by path.
        problems: problems not tied to a store (unreadable folder, link loop, vanished file).
        skipped: files that look like data but are not stores, with the reason.
    """

    stores: tuple[Store, ...]
    problems: tuple[Problem, ...]
    skipped: tuple[Skipped, ...]


def scan_stores(root: Path, *, on_progress: Callable[[str], None] | None = None) -> StoreScan:
    """Find and describe every data store under ``root``, reading only.

    Args:
        root: the project folder.
        on_progress: called with each file's relative path before it is examined.

    Raises:
        ScanError: ``root`` is not a folder.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "users.jsonl").write_text('{"id": 1}\\n{"id": 2}\\n')
    ...     found = scan_stores(pathlib.Path(d))
    >>> [(s.path, s.kind, s.rows) for s in found.stores]
    [('users.jsonl', 'jsonl', 2)]
    """
    root = Path(root)
    if not root.is_dir():
        raise ScanError(f"{root}: not a folder; give the project's root folder")
    log = WalkLog()
    stores: list[Store] = []
    # Record inference allocates many short-lived containers and no cycles: the cyclic
    # collector would only slow it down.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for entry in walk(root, log):
            if on_progress is not None:
                on_progress(entry.rel)
            store = _examine(entry, log)
            if store is not None:
                stores.append(store)
    finally:
        if was_enabled:
            gc.enable()
    stores.sort(key=lambda s: s.path)
    return StoreScan(tuple(stores), tuple(log.problems), tuple(log.skipped))


def _examine(entry: FileEntry, log: WalkLog) -> Store | None:
    rel = entry.rel
    try:
        with open(entry.path, "rb") as f:
            head = f.read(HEAD_BYTES)
        size = os.stat(entry.path).st_size
        if size != entry.size:
            entry = FileEntry(entry.path, rel, size, entry.siblings)
        det = detect(entry, head)
        if det.skip is not None:
            log.skipped.append(Skipped(rel, det.skip))
            return None
        if det.kind is None:
            return None
        return _read(entry, det)
    except FileNotFoundError:
        log.problems.append(Problem(rel, f"{rel}: {VANISHED}"))
    except PermissionError:
        log.problems.append(
            Problem(
                rel,
                f"{rel}: cannot read this file (permission denied); grant read access or "
                "exclude it",
            )
        )
    except OSError as exc:
        log.problems.append(Problem(rel, f"{rel}: cannot read this file ({exc.strerror or exc})"))
    except MemoryError:
        log.problems.append(Problem(rel, f"{rel}: too large to analyse in memory; exclude it"))
    except Exception as exc:  # a reader bug must not end the scan
        log.problems.append(
            Problem(
                rel,
                f"{rel}: could not be analysed ({type(exc).__name__}: {exc}); exclude it and "
                "report this to dbfold",
            )
        )
    return None


def _read(entry: FileEntry, det: Detection) -> Store:
    rel, path, size = entry.rel, entry.path, entry.size
    kind = det.kind
    if kind == "sqlite":
        return read_sqlite(path, rel, size)
    if kind == "json":
        return _with_encoding(read_json(path, rel, size), det)
    if kind == "jsonl":
        return _with_encoding(read_jsonl(path, rel, size), det)
    if kind == "csv":
        return read_csv(path, rel, size)
    if kind == "pickle":
        return read_pickle(rel, size)
    # dbm: the store is named as code opens it (NAME, not NAME.dir).
    parent = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    name = display(det.store_name or path.name)
    total = size + sum(_size(path.with_name(c)) for c in det.companions)
    store_rel = parent + name
    if path.suffix == ".dir" and det.store_name:
        return read_dumb(path, store_rel, total)
    head = path.read_bytes()[:4]
    module = (
        "dbm.gnu" if head[:3] in (b"\x13\x57\x9a", b"\xce\x9a\x57", b"\xcd\x9a\x57") else "dbm.ndbm"
    )
    return read_dbm(path, store_rel, total, module)


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _with_encoding(store: Store, det: Detection) -> Store:
    if det.encoding == "utf-16":
        return Store(
            store.path,
            store.kind,
            store.bytes,
            problems=(
                Problem(
                    store.path,
                    f"{store.path}: UTF-16 text; dbfold reads UTF-8 — re-save it as UTF-8",
                ),
            ),
            encoding="utf-16",
        )
    return store

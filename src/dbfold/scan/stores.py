"""``scan_stores()``: find every data store under a project root and describe it.

The walk (:mod:`~dbfold.scan.walk`) yields files, :mod:`~dbfold.scan.detect` decides what
each one is from its content, and one reader per kind describes it. Sources are only read.
Every failure becomes a :class:`~dbfold.model.Problem`; the scan always goes on.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbfold.errors import ScanError
from dbfold.model import Problem, Skipped, Store
from dbfold.scan.csv_reader import read_csv
from dbfold.scan.detect import HEAD_BYTES, Detection, detect
from dbfold.scan.json_reader import read_json
from dbfold.scan.jsonl_reader import Part, finish, read_jsonl, read_part, split_lines
from dbfold.scan.kv_reader import read_dbm, read_dumb, read_pickle
from dbfold.scan.sqlite_reader import read_sqlite
from dbfold.scan.walk import VANISHED, FileEntry, WalkLog, display, walk
from dbfold.sqlitefiles import read_head

__all__ = ["StoreScan", "scan_stores"]

#: Projects smaller than this are scanned in this process: starting workers costs more.
PARALLEL_BYTES = 8 * 1024 * 1024
#: Only files this big count towards :data:`PARALLEL_BYTES`.
BIG_BYTES = 1024 * 1024
#: Most worker processes started (besides this one, which works too).
MAX_WORKERS = 3
#: JSONL files at least twice this big are read in parts of about this size, in parallel.
PART_BYTES = 8 * 1024 * 1024
#: Rough cost per byte of each kind of file, to hand out the slowest files first. SQLite
#: files cost less than text: analyze reads their schema, counts and quick_check (every page
#: once, about 2 ns a byte warm), not their values.
_COST = {".csv": 6.0, ".tsv": 6.0, ".jsonl": 3.0, ".ndjson": 3.0, ".json": 2.0, ".db": 0.4}
#: One piece of work: an entry's index and the stretch of it to read (None: the whole file).
_Unit = tuple[int, tuple[int, int | None] | None]

#: What examining one file gives: the store (or None) and its problems and skipped entries.
_Result = tuple[Store | None, list[Problem], list[Skipped]]


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


def scan_stores(
    root: Path,
    *,
    on_progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    alongside: Callable[[], object] | None = None,
) -> StoreScan:
    """Find and describe every data store under ``root``, reading only.

    Big projects are read by several processes at once (see :func:`_scan_parallel`); the
    result is the same as a serial scan's.

    Args:
        root: the project folder.
        on_progress: called (in this process) with each file's relative path before it is
            examined.
        workers: worker processes to start besides this one; 0 scans in this process only.
            By default one fewer than the CPUs available (at most :data:`MAX_WORKERS`), and
            none for projects under :data:`PARALLEL_BYTES`.
        alongside: other work for this process (called once, here), done while worker
            processes start and read the biggest files.

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
    # Record inference allocates many short-lived containers and no cycles: the cyclic
    # collector would only slow it down.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if workers is None or workers > 0:
            return _scan_parallel(root, log, on_progress, workers, alongside=alongside)
        if alongside is not None:
            alongside()
        stores: list[Store] = []
        for entry in walk(root, log):
            if on_progress is not None:
                on_progress(entry.rel)
            store = _examine(entry, log)
            if store is not None:
                stores.append(store)
    finally:
        if was_enabled:
            gc.enable()
    return _finish(stores, log)


def _finish(stores: list[Store], log: WalkLog) -> StoreScan:
    stores.sort(key=lambda s: s.path)
    return StoreScan(tuple(stores), tuple(log.problems), tuple(log.skipped))


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_WORKERS, cpus - 1))


def _cost(entry: FileEntry) -> float:
    return entry.size * _COST.get(os.path.splitext(entry.rel)[1].lower(), 1.0)


def _job(entry: FileEntry) -> _Result:
    """Examine one file (in a worker process or in this one)."""
    gc.disable()  # see scan_stores; a worker does nothing else
    log = WalkLog()
    store = _examine(entry, log)
    return store, log.problems, log.skipped


def _isolated(entry: FileEntry) -> _Result:
    """Examine one file in a worker of its own, after a worker stopped while holding it."""
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            with _main_hidden():
                fut = pool.submit(_job, entry)
            return fut.result()
    except Exception as exc:
        return None, [_worker_died(entry.rel, exc)], []


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Keep a spawned worker from re-running the caller's main script.

    ``spawn`` re-imports ``__main__`` in each worker (from its file or module name) so that
    pickled functions defined there can be found. The workers only run :func:`_job`, which
    lives here, and a caller's script without an ``if __name__ == "__main__"`` guard would
    start another scan in each worker. Without ``__file__`` and ``__spec__`` on ``__main__``
    (only while a worker is being started) multiprocessing leaves the worker's main alone.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    try:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _worker_died(rel: str, exc: BaseException) -> Problem:
    return Problem(
        rel,
        f"{rel}: could not be analysed (the process reading it stopped: "
        f"{type(exc).__name__}: {exc}); exclude it and report this to dbfold",
    )


def _scan_parallel(
    root: Path,
    log: WalkLog,
    on_progress: Callable[[str], None] | None,
    workers: int | None,
    job: Callable[[FileEntry], _Result] = _job,
    part_job: Callable[[FileEntry, int, int | None], Part | Problem] | None = None,
    alongside: Callable[[], object] | None = None,
) -> StoreScan:
    """Examine the files in worker processes and in this one, the slowest work first.

    Worker processes are started with ``spawn`` (safe whatever threads this process runs)
    and take work from the costly end of the list while this process takes it from the
    cheap end (``alongside`` runs here first, while the workers start). A big JSONL file
    is cut into parts that are read like files and merged in order
    (:mod:`~dbfold.scan.jsonl_reader`). Results are put back in walk order, so the outcome
    is the same as a serial scan's. A worker that dies (killed, out of memory) costs
    only the files it held: each is retried alone in a fresh worker and reported as a
    problem if that fails too.
    """
    entries: list[FileEntry] = []
    marks: list[tuple[int, int]] = []  # walk problems/skipped logged before each entry
    results: dict[int, _Result] = {}
    for entry in walk(root, log):  # names and sizes only: fast
        marks.append((len(log.problems), len(log.skipped)))
        entries.append(entry)
    if workers is None:
        big = [e.size for e in entries if e.size >= BIG_BYTES]
        workers = _default_workers() if sum(big) >= PARALLEL_BYTES and len(big) > 1 else 0
    units: list[_Unit] = []
    for i, entry in enumerate(entries):
        stretches = _stretches(entry) if workers > 0 else None
        units += [(i, s) for s in stretches] if stretches else [(i, None)]
    queue = deque(sorted(range(len(units)), key=lambda u: -_unit_cost(entries, units[u])))
    read_part_of = part_job or _part_job
    out: dict[int, Any] = {}  # unit → its _Result, or a Part or Problem for a stretch
    announced: set[int] = set()

    def start(u: int) -> None:
        i = units[u][0]
        if on_progress is not None and i not in announced:
            announced.add(i)
            on_progress(entries[i].rel)

    def here(u: int) -> None:
        start(u)
        i, stretch = units[u]
        out[u] = _job(entries[i]) if stretch is None else _part_job(entries[i], *stretch)

    broken: list[int] = []
    if workers > 0:

        def submit(pool: ProcessPoolExecutor, u: int) -> Future[Any]:
            i, stretch = units[u]
            if stretch is None:
                return pool.submit(job, entries[i])
            return pool.submit(read_part_of, entries[i], *stretch)

        done, broken = _share(workers, queue, submit, here, start, alongside)
        for u, value in done.items():
            if isinstance(value, BaseException):  # the result could not come back
                value = (None, [_worker_died(entries[units[u][0]].rel, value)], [])
            out[u] = value
    elif alongside is not None:
        alongside()
    for u in sorted(queue):  # serial (or what the workers left): in walk order
        here(u)
    retry = {units[u][0] for u in broken}
    for i in sorted(retry):
        results[i] = _isolated(entries[i])
    parts: dict[int, list[Any]] = {}
    for u, (i, stretch) in enumerate(units):
        if i in retry:
            continue
        if stretch is None:
            results[i] = out[u]
        else:
            parts.setdefault(i, []).append(out[u])
    for i, pieces in parts.items():
        results[i] = _assemble(entries[i], pieces)
    return _merge(entries, marks, results, log)


def _share(
    workers: int,
    queue: deque[int],
    submit: Callable[[ProcessPoolExecutor, int], Future[Any]],
    here: Callable[[int], None],
    announce: Callable[[int], None],
    alongside: Callable[[], object] | None,
) -> tuple[dict[int, Any], list[int]]:
    """Run units from the costly end of ``queue`` in workers and from the cheap end here.

    Each worker holds one unit at a time, and the callback of a finished unit hands it the
    next one, so a worker never waits for this process to finish its own unit; at the end
    neither side sits idle while the other still holds a queue of units. ``announce`` is
    called here, in this thread, for each unit handed to a worker.

    Returns:
        The workers' results by unit (an exception when a result could not come back) and
        the units whose worker died. Units no worker ran (the pool broke) stay in ``queue``.
    """
    lock = threading.Lock()
    futures: dict[Future[Any], int] = {}
    handed: list[int] = []
    stop = False  # closing, or the pool broke: hand out nothing more
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def hand_out() -> None:
        nonlocal stop
        with lock:
            if stop or not queue:
                return
            u = queue.popleft()
            try:
                fut = submit(pool, u)
            except (BrokenProcessPool, RuntimeError):
                queue.appendleft(u)
                stop = True
                return
            futures[fut] = u
            handed.append(u)
        fut.add_done_callback(finished)

    def finished(fut: Future[Any]) -> None:
        nonlocal stop
        if not fut.cancelled() and isinstance(fut.exception(), BrokenProcessPool):
            with lock:
                stop = True
            return
        hand_out()

    told = 0
    try:
        with _main_hidden():  # the first units start the worker processes
            for _ in range(workers):
                hand_out()
        if alongside is not None:
            alongside()  # while the workers start and read the biggest files
        while True:
            with lock:
                fresh, told = handed[told:], len(handed)
                u = queue.pop() if queue and not stop else None
            for v in fresh:
                announce(v)
            if u is None:
                break
            here(u)
    finally:
        with lock:
            stop = True
            running = list(futures)
        # The results are what matters: the worker processes exit in the background.
        wait(running)
        pool.shutdown(wait=False, cancel_futures=True)
    for v in handed[told:]:
        announce(v)
    results: dict[int, Any] = {}
    dead: list[int] = []
    for fut, u in futures.items():
        if fut.cancelled():
            queue.append(u)  # never ran: this process does it
            continue
        try:
            results[u] = fut.result()
        except BrokenProcessPool:
            dead.append(u)
        except Exception as exc:
            results[u] = exc
    return results, dead


def _stretches(entry: FileEntry) -> list[tuple[int, int | None]] | None:
    """The parts to read a big JSONL file in, or None to read the file whole."""
    if entry.size < 2 * PART_BYTES:
        return None
    try:
        det = detect(entry, read_head(entry.path, HEAD_BYTES))
        if det.kind != "jsonl" or det.encoding == "utf-16":
            return None
        return split_lines(entry.path, entry.size, entry.size // PART_BYTES)
    except OSError:
        return None  # read whole: examining the file reports what is wrong


def _unit_cost(entries: list[FileEntry], unit: _Unit) -> float:
    i, stretch = unit
    entry = entries[i]
    if stretch is None:
        return _cost(entry)
    start, end = stretch
    return ((entry.size if end is None else end) - start) * _COST[".jsonl"]


def _part_job(entry: FileEntry, start: int, end: int | None) -> Part | Problem:
    """Read one part of a big JSONL file (in a worker process or in this one)."""
    gc.disable()  # see scan_stores
    try:
        return read_part(entry.path, start, end)
    except Exception as exc:
        return _failure(entry.rel, exc)


def _assemble(entry: FileEntry, pieces: list[Any]) -> _Result:
    """The store of a JSONL file read in parts, or the first part's failure."""
    for piece in pieces:
        if isinstance(piece, Problem):
            return None, [piece], []
        if isinstance(piece, tuple):  # the worker reading it could not send it back
            return piece
    try:
        return finish(entry.path, entry.rel, entry.size, pieces), [], []
    except Exception as exc:
        return None, [_failure(entry.rel, exc)], []


def _merge(
    entries: list[FileEntry],
    marks: list[tuple[int, int]],
    results: dict[int, _Result],
    log: WalkLog,
) -> StoreScan:
    """Interleave the walk's own problems and each file's, as a serial scan orders them."""
    problems: list[Problem] = []
    skipped: list[Skipped] = []
    stores: list[Store] = []
    p0 = s0 = 0
    for i in range(len(entries)):
        p1, s1 = marks[i]
        problems += log.problems[p0:p1]
        skipped += log.skipped[s0:s1]
        p0, s0 = p1, s1
        store, probs, skips = results[i]
        if store is not None:
            stores.append(store)
        problems += probs
        skipped += skips
    problems += log.problems[p0:]
    skipped += log.skipped[s0:]
    return _finish(stores, WalkLog(problems, skipped))


def _examine(entry: FileEntry, log: WalkLog) -> Store | None:
    rel = entry.rel
    try:
        if entry.path.name.endswith(OWN_SUFFIXES):
            log.skipped.append(Skipped(rel, OWN_FILE))
            return None
        # Never a plain read of a SQLite database this process has open (howtocorrupt §2.2).
        head = read_head(entry.path, HEAD_BYTES)
        size = os.stat(entry.path).st_size
        if size != entry.size:
            entry = FileEntry(entry.path, rel, size, entry.siblings)
        det = detect(entry, head)
        if det.skip is not None:
            log.skipped.append(Skipped(rel, det.skip))
            return None
        if det.kind is None:
            return None
        store = _read(entry, det)
        if _made_by_dbfold(store):
            # Folding the unified database into itself would double every row on re-analysis.
            log.skipped.append(Skipped(rel, OWN_TARGET))
            return None
        return store
    except Exception as exc:  # a reader bug must not end the scan either
        log.problems.append(_failure(rel, exc))
    return None


def _failure(rel: str, exc: Exception) -> Problem:
    """What to tell the user when reading ``rel`` raised ``exc``."""
    if isinstance(exc, FileNotFoundError):
        return Problem(rel, f"{rel}: {VANISHED}")
    if isinstance(exc, PermissionError):
        msg = "cannot read this file (permission denied); grant read access or exclude it"
        return Problem(rel, f"{rel}: {msg}")
    if isinstance(exc, OSError):
        return Problem(rel, f"{rel}: cannot read this file ({exc.strerror or exc})")
    if isinstance(exc, MemoryError):
        return Problem(rel, f"{rel}: too large to analyse in memory; exclude it")
    return Problem(
        rel,
        f"{rel}: could not be analysed ({type(exc).__name__}: {exc}); exclude it and "
        "report this to dbfold",
    )


#: Why a database that dbfold migrated into (or a runtime database) is not a source.
#: dbfold's own working files beside a target: a build, its lock, a backup being written.
OWN_SUFFIXES = tuple(
    f"{base}{companion}"
    for base in (".dbfold-tmp", ".dbfold-lock")
    for companion in ("", "-journal", "-wal", "-shm")
)
OWN_FILE = "dbfold's own working file (a build in progress or its lock), not a source"
OWN_TARGET = "dbfold's own unified database (made by `dbfold migrate`), not a source"
#: Built-in tables that only dbfold's migrate and runtime create.
_OWN_TABLES = frozenset({"dbfold_migrations", "dbfold_schema_history"})


def _made_by_dbfold(store: Store) -> bool:
    return store.kind == "sqlite" and any(t.name in _OWN_TABLES for t in store.tables)


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

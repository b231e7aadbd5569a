"""The first pass of the code scan: what each file is, read by several processes at once.

Every ``.py`` file is parsed once here (that is also how files that are not valid Python
are found), and only a verdict comes back: whether it parsed, whether it holds a call
that opens a store, and a small filter of the identifiers it spells (a Bloom filter, about
two bytes per distinct identifier). Syntax trees are dropped at once; the later passes
parse again the few files that matter, chosen with :class:`Names`.

A file is only walked for openers when its text names one: every opener's api, like
``sqlite3.connect``, has to be spelled in the source (its last part is always written
out, its first part too unless it comes from a relative import, whose package is then the
file's own).

Big trees are split into chunks read by worker processes started with ``spawn`` (never
``fork``: see ARCHITECTURE.md) while this process reads chunks from the other end; the
result is the same as reading them in order here.

:class:`Names` answers the later passes' question "which files spell this identifier?"
from those filters: every file that does is in the answer, and a few (about 1 in 70) that
do not.
"""

from __future__ import annotations

import ast
import gc
import io
import multiprocessing
import os
import re
import threading
import tokenize
import unicodedata
import zlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from dbfold.model import Problem
from dbfold.scan.code_calls import DIRECT, HANDLE, find_openings, used_names
from dbfold.scan.code_index import build_module, dotted_name, relative_to

__all__ = ["FileFacts", "Names", "gather_facts", "might_open", "name_filter", "searchable"]

#: (problem, opens, spelled, used): a problem if the file is unreadable or not Python;
#: whether it holds a store-opening call; filters of the identifiers it spells and of the
#: names its calls and class bases use (:func:`~dbfold.scan.code_calls.used_names`); the
#: filters are None if it did not parse.
FileFacts = tuple[Problem | None, bool, bytes | None, bytes | None]

#: Files below this many, the first pass stays in this process (starting a worker costs
#: about as much as parsing a hundred files).
PARALLEL_FILES = 200
#: Files per chunk handed to a worker.
CHUNK_FILES = 24
#: Worker processes at most.
MAX_WORKERS = 8


def _opener_words() -> tuple[tuple[bytes, bytes], ...]:
    """(first part, last part) of every api :func:`find_openings` recognises."""
    names = [*DIRECT, *HANDLE, "json.loads", "orjson.loads", "json.dumps", "orjson.dumps"]
    return tuple(
        sorted({(n.partition(".")[0].encode(), n.rpartition(".")[2].encode()) for n in names})
    )


_WORDS = _opener_words()
_TOKEN = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_WIDE_TOKEN = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")


def searchable(data: bytes) -> bytes:
    """Source bytes in which each identifier appears as the parser names it.

    Python reads identifiers NFKC-normalised and in the file's declared encoding; ASCII
    sources (most) are returned as they are.
    """
    if data.isascii():
        return data
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        text = data.decode(encoding, "replace")
    except (SyntaxError, LookupError):
        text = data.decode("utf-8", "replace")
    return unicodedata.normalize("NFKC", text).encode("utf-8", "replace")


def might_open(words: set[bytes], rel: str) -> bool:
    """Whether a source with these :func:`identifiers` can hold a store opener."""
    top = dotted_name(rel).partition(".")[0].encode("utf-8", "replace")
    return any(last in words and (first in words or first == top) for first, last in _WORDS)


def identifiers(text: bytes) -> set[bytes]:
    """Every identifier the source ``text`` (see :func:`searchable`) spells, and other words.

    In valid code an identifier only borders ASCII characters that cannot be part of one
    (non-ASCII ones may only appear in strings and comments), so each identifier is a whole
    run of letters, digits and underscores, or of those and non-ASCII characters.
    """
    found = set(_TOKEN.findall(text))
    if not text.isascii():
        found.update(w for w in _WIDE_TOKEN.findall(text) if not w.isascii())
    return found


def _bits(word: bytes, size: int) -> tuple[int, int]:
    h = zlib.crc32(word)
    return h % size, ((h >> 16) | (h << 16) & 0xFFFF0000) % size


def name_filter(words: set[bytes]) -> bytes:
    """A Bloom filter of ``words``: 16 bits per word, two bits set for each."""
    size = max(64, 16 * len(words))
    bits = bytearray((size + 7) // 8)
    size = len(bits) * 8
    for word in words:
        a, b = _bits(word, size)
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
    return bytes(bits)


def in_filter(bits: bytes, word: bytes) -> bool:
    """Whether ``word`` may be in the filter (it surely is not when this says no)."""
    a, b = _bits(word, len(bits) * 8)
    return bool(bits[a >> 3] & (1 << (a & 7))) and bool(bits[b >> 3] & (1 << (b & 7)))


def read_facts(root: str, paths: Sequence[str]) -> list[FileFacts]:
    """The facts of each file (run in worker processes and in this one)."""
    base = Path(root)
    # Syntax trees hold no cycles and are dropped file by file: the cyclic collector
    # would only walk them again and again while they are built.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [_facts(base, Path(p)) for p in paths]
    finally:
        if enabled:
            gc.enable()


def _facts(root: Path, path: Path) -> FileFacts:
    rel = relative_to(root, path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        message = f"{rel}: cannot read ({reason}); its code is not analysed"
        return Problem(rel, message, "warning"), False, None, None
    try:
        # Bytes, so that ast honours a PEP 263 coding line or a BOM itself.
        tree = ast.parse(data, filename=rel)
    except (SyntaxError, ValueError) as exc:
        # A NUL byte in the source is a SyntaxError from Python 3.11 on but a ValueError, with
        # the same words and no line, on 3.10: one problem, worded alike, on every Python.
        line = exc.lineno if isinstance(exc, SyntaxError) else None
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        where = f"{rel}:{line}" if line else rel
        message = f"{where}: not valid Python ({reason}); its store uses are not analysed"
        return Problem(rel, message, "warning", line), False, None, None
    words = identifiers(searchable(data))
    module = build_module(path, rel, tree)
    used = name_filter({n.encode("utf-8", "replace") for n in used_names(module)})
    opens = might_open(words, rel) and next(iter(find_openings(module)), None) is not None
    return None, opens, name_filter(words), used


def gather_facts(
    root: Path, paths: Sequence[Path], *, workers: int | None = None
) -> list[FileFacts]:
    """The facts of every file, in order; worker processes share the work on big trees.

    Args:
        root: the project root (for relative names).
        paths: the files.
        workers: worker processes besides this one; by default one fewer than the CPUs
            for :data:`PARALLEL_FILES` files or more, else none.
    """
    if workers is None:
        workers = _default_workers() if len(paths) >= PARALLEL_FILES else 0
    names = [str(p) for p in paths]
    chunks = [names[i : i + CHUNK_FILES] for i in range(0, len(names), CHUNK_FILES)]
    if workers <= 0 or len(chunks) < 2:
        return [f for chunk in chunks for f in read_facts(str(root), chunk)]
    done = _share(str(root), chunks, min(workers, len(chunks) - 1))
    return [f for chunk in done for f in chunk]


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_WORKERS, cpus - 1))  # this process reads too


def _share(root: str, chunks: list[list[str]], workers: int) -> list[list[FileFacts]]:
    """Read chunks in workers from the front of the list and here from its back.

    A chunk whose worker failed (it died, or its result could not come back) is read again
    here, so the outcome (or the exception) is the same as a serial pass's.
    """
    from dbfold.scan.stores import _main_hidden  # the store scan's workers need it too

    results: list[list[FileFacts] | None] = [None] * len(chunks)
    queue = deque(range(len(chunks)))
    lock = threading.Lock()
    futures: dict[Future[list[FileFacts]], int] = {}
    stop = False
    try:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    except (OSError, ValueError):  # no processes here (no semaphores, a sandbox): all here
        return [read_facts(root, chunk) for chunk in chunks]

    def hand_out() -> None:
        nonlocal stop
        with lock:
            if stop or not queue:
                return
            c = queue.popleft()
            try:
                fut = pool.submit(read_facts, root, chunks[c])
            except (BrokenProcessPool, RuntimeError, OSError, AssertionError):
                # A broken pool, or no process could start (AssertionError: this is a
                # daemonic process, which may have no children): the rest is done here.
                queue.appendleft(c)
                stop = True
                return
            futures[fut] = c
        fut.add_done_callback(finished)

    def finished(fut: Future[list[FileFacts]]) -> None:
        nonlocal stop
        if not fut.cancelled() and isinstance(fut.exception(), BrokenProcessPool):
            with lock:
                stop = True
            return
        hand_out()

    try:
        with _main_hidden():  # the first chunks start the worker processes
            for _ in range(2 * workers):  # one queued behind each running chunk
                hand_out()
        while True:
            with lock:
                c = queue.pop() if queue else None
            if c is None:
                break
            results[c] = read_facts(root, chunks[c])
    finally:
        with lock:
            stop = True
            running = list(futures)
        wait(running)
        pool.shutdown(wait=True, cancel_futures=True)
    for fut, c in futures.items():
        if not fut.cancelled() and fut.exception() is None:
            results[c] = fut.result()
    return [r if r is not None else read_facts(root, chunks[c]) for c, r in enumerate(results)]


class Names:
    """Which files spell or use a name, from the filters of the first pass.

    Answers hold every file that does and a few that do not (see :func:`name_filter`);
    they are kept per name.
    """

    def __init__(self, spelled: Sequence[bytes], used: Sequence[bytes]) -> None:
        self._filters = (spelled, used)
        self._hits: dict[tuple[int, str], frozenset[int]] = {}

    def spelling(self, name: str) -> frozenset[int]:
        """Indexes of the files whose text may spell the identifier ``name``."""
        return self._lookup(0, name)

    def using(self, name: str) -> frozenset[int]:
        """Indexes of the files with a call or class base that may use ``name``."""
        return self._lookup(1, name)

    def _lookup(self, which: int, name: str) -> frozenset[int]:
        found = self._hits.get((which, name))
        if found is None:
            word = name.encode("utf-8", "replace")
            filters = self._filters[which]
            found = frozenset(i for i, bits in enumerate(filters) if in_filter(bits, word))
            self._hits[which, name] = found
        return found

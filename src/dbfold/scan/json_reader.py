"""Read JSON and JSONL stores as record sets, streaming, in bounded memory.

JSON arrays and id→record maps are cut into pieces of about 256 KiB at element boundaries
and each piece is parsed by orjson (a cut that lands inside a string or a nested value makes
the piece invalid, so a wrong cut is always detected and another one tried). If no cut is
found within :data:`MAX_BUFFER` the file is streamed with ijson instead. Small files whose
fast parse fails are re-read whole, tolerantly, to report exactly what is wrong and still
describe what can be read (NaN/Infinity, invalid UTF-8, trailing garbage).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from dbfold.model import Column, Problem, Store, Table
from dbfold.scan import json_verdict
from dbfold.scan.json_verdict import Verdict, duplicate_key, judge, stream_error
from dbfold.scan.records import RecordStats
from dbfold.scan.walk import display

CHUNK = 256 * 1024
MAX_BUFFER = 64 * 1024 * 1024
#: Files up to this size are re-read whole when the streaming parse fails.
SMALL = 64 * 1024 * 1024
_WS = b" \t\r\n"
NAN = json_verdict.NAN


class _Fallback(Exception):
    """The fast path cannot go on; use the slower one."""


def _skip_ws(buf: bytes, i: int) -> int:
    n = len(buf)
    while i < n and buf[i] in _WS:
        i += 1
    return i


class _Cutter:
    """Yield parsed pieces (lists or dicts) of one top-level JSON array or object."""

    def __init__(self, f: IO[bytes], opener: bytes, element: bytes) -> None:
        self.f = f
        self.opener = opener  # b"[" or b"{"
        self.closer = b"]" if opener == b"[" else b"}"
        self.element = element  # first byte expected after a cut: b"{", b"[" or b'"'
        self.end = b"}" if element in (b"{", b'"') else b"]"
        self.nan = False

    def _loads(self, piece: bytes) -> Any:
        try:
            return orjson.loads(piece)
        except orjson.JSONDecodeError:
            # A wrong cut fails here too: look for NaN with a plain find before the regex.
            if (b"NaN" not in piece and b"Infinity" not in piece) or not NAN.search(piece):
                raise
            value = json.loads(piece)
            self.nan = True
            return value

    def _cut(self, buf: bytes) -> tuple[Any, bytes] | None:
        # Elements written one per line end with "},\n": those cuts are tried first, as a
        # cut inside a nested value ("},{" in a list of objects) costs a parse that fails.
        return self._cut_at(buf, self.end + b",\n", 2) or self._cut_at(buf, self.end + b",", 6)

    def _cut_at(self, buf: bytes, sep: bytes, tries: int) -> tuple[Any, bytes] | None:
        end = len(buf)
        for _ in range(tries):
            i = buf.rfind(sep, 0, end)
            if i < 0:
                return None
            end = i
            j = _skip_ws(buf, i + 2)
            if j >= len(buf) or buf[j : j + 1] != self.element:
                continue
            if self.element == b'"':
                k = buf.find(b'"', j + 1)
                k = _skip_ws(buf, k + 1) if k > 0 else len(buf)
                if (
                    buf[k : k + 1] != b":"
                    or buf[_skip_ws(buf, k + 1) : _skip_ws(buf, k + 1) + 1] != b"{"
                ):
                    continue
            try:
                value = self._loads(self.opener + buf[: i + 1] + self.closer)
            except (orjson.JSONDecodeError, ValueError, RecursionError):
                continue
            return value, buf[i + 2 :]
        return None

    def pieces(self, buf: bytes) -> Iterator[Any]:
        while True:
            data = self.f.read(CHUNK)
            if not data:
                break
            buf = buf + data if buf else data
            cut = self._cut(buf)
            if cut is not None:
                value, buf = cut
                yield value
            elif len(buf) > MAX_BUFFER:
                raise _Fallback
        try:
            yield self._loads(self.opener + buf)
        except (orjson.JSONDecodeError, ValueError, RecursionError) as exc:
            raise _Fallback from exc


def _key_name(stats_cols: tuple[Column, ...], base: str = "id") -> str:
    taken = {c.name for c in stats_cols}
    for cand in (base, "key", f"_{base}", "_key"):
        if cand not in taken:
            return cand
    i = 2
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"


def _keyed_table(name: str, stats: RecordStats, layout: str, digits: bool) -> Table:
    cols = stats.columns()
    key = _key_name(cols)
    typ = "integer" if digits else "text"
    key_col = Column(
        name=key,
        type=typ,
        nullable=False,
        primary_key=True,
        present=stats.rows,
        observed={typ: stats.rows} if stats.rows else {},
        hints=("id",),
    )
    return Table(
        name=name,
        rows=stats.rows,
        columns=(key_col, *cols),
        primary_key=(key,),
        layout=layout,
        key=key,
    )


def _is_tinydb(doc: dict[str, Any]) -> bool:
    if not doc or not all(type(v) is dict for v in doc.values()):
        return False
    ids = 0
    for table in doc.values():
        for k, v in table.items():
            if not k.isdigit() or type(v) is not dict:
                return False
            ids += 1
    return "_default" in doc or ids > 0


def _is_map(doc: dict[str, Any]) -> bool:
    values = list(doc.values())
    if not values or not all(type(v) is dict for v in values):
        return False
    if len(values) == 1:
        return True
    # Records of one map share field names; config sections mostly do not.
    first = set(values[0])
    shared = sum(1 for v in values[1:] if first & set(v))
    return shared * 2 >= len(values) - 1


def tables_of(name: str, value: Any) -> tuple[tuple[Table, ...], str]:
    """Describe a whole JSON value; returns (tables, kind)."""
    if isinstance(value, list):
        return (_array_table(name, [value]),), "json"
    if isinstance(value, dict):
        if _is_tinydb(value):
            out = []
            for tname, table in value.items():
                stats = RecordStats()
                stats.add_many(table.values())
                out.append(_keyed_table(tname, stats, "tinydb", True))
            return tuple(out), "tinydb"
        if _is_map(value):
            stats = RecordStats()
            stats.add_many(value.values())
            digits = all(k.isdigit() for k in value)
            return (_keyed_table(name, stats, "map", digits),), "json"
        stats = RecordStats()
        stats.add(value)
        return (Table(name=name, rows=1, columns=stats.columns(), layout="document"),), "json"
    return (), "json"


def _array_table(name: str, pieces: Any) -> Table:
    """Describe a JSON array given as an iterable of lists of elements."""
    stats = RecordStats()
    layout = None
    for piece in pieces:
        if not piece:
            continue
        if layout is None:
            first = piece[0]
            layout = "records" if type(first) is dict else "rows"
        if layout == "records":
            if all(type(e) is dict for e in piece):
                stats.add_many(piece)
            else:
                for e in piece:
                    stats.add(e if type(e) is dict else {"value": e})
        else:
            for e in piece:
                if type(e) is list:
                    stats.add_row(e)
                else:
                    stats.add(e if type(e) is dict else {"value": e})
    return Table(name=name, rows=stats.rows, columns=stats.columns(), layout=layout or "records")


def _head(f: IO[bytes]) -> tuple[bytes, str]:
    buf = f.read(CHUNK)
    enc = "utf-8"
    if buf.startswith(b"\xef\xbb\xbf"):
        buf = buf[3:]
        enc = "utf-8-sig"
    return buf[_skip_ws(buf, 0) :], enc


def read_json(path: Path, rel: str, size: int) -> Store:
    """Describe a JSON file: an array, an id→record map, a TinyDB file or one document."""
    name = display(path.stem)
    problems: list[Problem] = []
    with open(path, "rb") as f:
        buf, enc = _head(f)
        if not buf:
            return Store(
                rel,
                "json",
                size,
                encoding=enc,
                problems=(Problem(rel, f"{rel}: empty JSON file; nothing to analyse", "warning"),),
            )
        opener = buf[:1]
        try:
            if opener == b"[":
                j = _skip_ws(buf, 1)
                element = buf[j : j + 1] if buf[j : j + 1] in (b"{", b"[") else b""
                if not element:
                    raise _Fallback
                cutter = _Cutter(f, b"[", element)
                table = _array_table(name, cutter.pieces(buf[1:]))
                tables: tuple[Table, ...] = (table,)
                kind = "json"
            elif opener == b"{" and size > SMALL:
                cutter = _Cutter(f, b"{", b'"')
                stats = RecordStats()
                digits = True
                for piece in cutter.pieces(buf[1:]):
                    if not all(type(v) is dict for v in piece.values()):
                        raise _Fallback
                    digits = digits and all(k.isdigit() for k in piece)
                    stats.add_many(piece.values())
                tables = (_keyed_table(name, stats, "map", digits),)
                kind = "json"
            else:
                raise _Fallback
            if cutter.nan:
                problems.append(Problem(rel, f"{rel}: {json_verdict.nan_warning()}", "warning"))
            if size <= json_verdict.DUPLICATES_MAX:
                dup = duplicate_key(path.read_bytes())
                if dup is not None:
                    message = json_verdict.duplicate_warning(dup)
                    problems.append(Problem(rel, f"{rel}: {message}", "warning"))
        except _Fallback:
            if size <= SMALL:
                value, problems = _load_tolerant(path, rel)
                kind = "json"
                if isinstance(value, (list, dict)):
                    tables, kind = tables_of(name, value)
                else:
                    tables = ()
                    if not any(p.severity == "error" for p in problems):
                        message = json_verdict.not_records(value)
                        problems.append(Problem(rel, f"{rel}: {message}"))
            else:
                tables, kind, problems = _stream_ijson(path, rel, name)
    return Store(rel, kind, size, tables=tables, problems=tuple(problems), encoding=enc)


def nan_problem(rel: str) -> Problem:
    """The warning for a file that holds NaN or Infinity, which JSON does not allow."""
    return Problem(
        rel,
        f"{rel}: non-standard NaN/Infinity values (not JSON); they were read as real numbers, "
        "but other tools will reject the file — write null instead",
        "warning",
    )


def _load_tolerant(path: Path, rel: str) -> tuple[Any, list[Problem]]:
    """Read a small JSON file whole and judge it as migrate does (:func:`judge`).

    Returns what can be described (the value, or the value before trailing data of a file
    that is not migratable) and the problems, the verdict's error last.
    """
    return verdict_problems(judge(path.read_bytes()), rel)


def verdict_problems(verdict: Verdict, rel: str) -> tuple[Any, list[Problem]]:
    """A verdict as analyze reports it: (what to describe, problems)."""
    problems = [Problem(rel, f"{rel}: {w}", "warning") for w in verdict.warnings]
    if verdict.error is not None:
        problems.append(Problem(rel, f"{rel}: {verdict.error}", line=verdict.line))
        return verdict.readable, problems
    return verdict.value, problems


def _stream_ijson(path: Path, rel: str, name: str) -> tuple[tuple[Table, ...], str, list[Problem]]:
    """Slow but general streaming path for big files the fast cutter cannot handle."""
    problems: list[Problem] = []
    stats = RecordStats()
    with open(path, "rb") as f:
        buf, _enc = _head(f)
        f.seek(0)
        if f.read(3) != b"\xef\xbb\xbf":
            f.seek(0)
        is_array = buf[:1] == b"["
        layout = "records"
        digits = True
        try:
            if is_array:
                for e in ijson.items(f, "item", use_float=True):
                    if type(e) is list:
                        layout = "rows"
                        stats.add_row(e)
                    else:
                        stats.add(e if type(e) is dict else {"value": e})
            else:
                layout = "map"
                for k, v in ijson.kvitems(f, "", use_float=True):
                    digits = digits and k.isdigit()
                    stats.add(v if type(v) is dict else {"value": v})
        except (ijson.JSONError, ValueError, RecursionError) as exc:
            # The records before the error are described; the file is not migrated.
            problems.append(Problem(rel, f"{rel}: {stream_error(stats.rows, exc)}"))
    if layout == "map":
        return (_keyed_table(name, stats, "map", digits),), "json", problems
    return (Table(name, stats.rows, stats.columns(), layout=layout),), "json", problems

"""Stream the records of a file store in batches, in bounded memory.

Each reader yields lists of records (dicts) in source order. JSON arrays and id → record
maps are cut into pieces of about 256 KiB parsed by orjson (the scanner's cutter), with ijson
as the fallback; JSONL is read a few MB of lines at a time and parsed with orjson, line by
line only when a chunk holds a bad line (reported by number and kept out); CSV goes through
the csv module with the dialect ``analyze`` found.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ijson
import orjson

from dbfold.errors import MigrateError
from dbfold.migrate.values import Record, as_record
from dbfold.model import Store, Table
from dbfold.scan import json_reader
from dbfold.scan.csv_reader import DelimiterChanges, _header, read_rows
from dbfold.scan.json_reader import _Cutter, _Fallback
from dbfold.scan.json_verdict import judge_file, stream_error

CHUNK = 256 * 1024
#: JSONL bytes parsed per batch: ~10k typical records, a few MB of Python objects at most.
LINES_CHUNK = 1024 * 1024
#: Bad lines reported one by one per source; the rest are counted.
MAX_BAD_LINES = 20


class SourceError(MigrateError):
    """One source cannot be read; the run skips it and goes on with the rest."""

    exit_code = 1


class NotMigratable(SourceError):
    """The shared JSON verdict (:mod:`dbfold.scan.json_verdict`), one line as analyze says it."""


def _judged(path: Path) -> Any:
    """A small JSON file's value, judged exactly as analyze judges it."""
    verdict = judge_file(path)
    if verdict.error is not None:
        raise NotMigratable(verdict.error)
    return verdict.value


@dataclass
class ReadState:
    """What a reader has consumed so far (for progress and for the journal)."""

    bytes: int = 0
    lines: int = 0
    records: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    bad_count: int = 0

    def bad(self, line: int, message: str) -> None:
        self.bad_count += 1
        if len(self.bad_lines) < MAX_BAD_LINES:
            self.bad_lines.append((line, message))


def _open_json(path: Path) -> tuple[Any, bytes]:
    f = open(path, "rb")  # noqa: SIM115 (closed by the caller)
    head = f.read(CHUNK)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return f, head.lstrip(b" \t\r\n")


def _ijson_elements(path: Path, prefix: str, kv: bool) -> Iterator[Any]:
    seen = [0]
    with open(path, "rb") as f:
        if f.read(3) != b"\xef\xbb\xbf":
            f.seek(0)
        try:
            items = (
                ijson.kvitems(f, prefix, use_float=True)
                if kv
                else ijson.items(f, prefix, use_float=True)
            )
            for item in items:
                seen[0] += 1
                yield item
        except (ijson.JSONError, ValueError, RecursionError) as exc:
            raise NotMigratable(stream_error(seen[0], exc)) from exc


def json_pieces(path: Path, state: ReadState, *, mapping: bool = False) -> Iterator[list[Any]]:
    """Elements of a top-level JSON array (or ``(key, value)`` pairs of an object) in pieces."""
    f, head = _open_json(path)
    done = 0
    try:
        opener = b"{" if mapping else b"["
        if head[:1] != opener:
            if path.stat().st_size <= json_reader.SMALL:
                _judged(path)  # raises the analysis' verdict on a bad file
            raise SourceError(
                f"holds a JSON {'array' if mapping else 'object'}, not the"
                f" {'object' if mapping else 'array'} analysed; run `dbfold analyze` again"
            )
        rest = head[1:].lstrip(b" \t\r\n")
        element = b'"' if mapping else rest[:1]
        if not mapping and element not in (b"{", b"["):
            if rest[:1] == b"]":
                return
            raise _Fallback
        cutter = _Cutter(f, opener, element)
        for piece in cutter.pieces(head[1:]):
            items = list(piece.items()) if mapping else piece
            done += len(items)
            state.bytes = f.tell()
            yield items
        return
    except _Fallback:
        pass
    finally:
        f.close()
    # The fast cutter gave up: a small file is judged whole as analyze judges it, a big one
    # streamed with ijson; either way what was already delivered is skipped.
    batch: list[Any] = []
    seen = 0
    elements: Any
    if path.stat().st_size <= json_reader.SMALL:
        value = _judged(path)
        if type(value) is not (dict if mapping else list):
            raise SourceError(
                f"holds a JSON {'array' if mapping else 'object'}, not the"
                f" {'object' if mapping else 'array'} analysed; run `dbfold analyze` again"
            )
        elements = value.items() if isinstance(value, dict) else value
    else:
        elements = _ijson_elements(path, "" if mapping else "item", mapping)
    for item in elements:
        seen += 1
        if seen <= done:
            continue
        batch.append(item)
        if len(batch) >= 10_000:
            yield batch
            batch = []
    if batch:
        yield batch
    state.bytes = path.stat().st_size


def load_whole(path: Path) -> Any:
    """A small JSON file parsed whole (documents, TinyDB files)."""
    return _judged(path)


def _keyed(items: list[tuple[str, Any]], key: str, as_int: bool) -> list[Record]:
    out = []
    for k, v in items:
        rec = dict(v) if type(v) is dict else {"value": v}
        rec[key] = int(k) if as_int and k.isdigit() else k
        out.append(rec)
    return out


def _key_is_int(table: Table) -> bool:
    col = next((c for c in table.columns if c.name == table.key), None)
    return col is not None and col.type == "integer"


def json_records(
    path: Path, store: Store, table: Table, state: ReadState
) -> Iterator[list[Record]]:
    """Record batches of a JSON / TinyDB store table, whatever its layout."""
    layout = table.layout
    if layout in ("records", "rows"):
        for piece in json_pieces(path, state):
            state.records += len(piece)
            if layout == "records" and all(type(e) is dict for e in piece):
                yield piece
            else:
                yield [as_record(e) for e in piece]
        return
    if layout == "map":
        key = table.key or "id"
        as_int = _key_is_int(table)
        for items in json_pieces(path, state, mapping=True):
            state.records += len(items)
            yield _keyed(items, key, as_int)
        return
    doc = load_whole(path)
    state.bytes = path.stat().st_size
    if layout == "document":
        state.records = 1
        yield [as_record(doc)]
        return
    if layout == "tinydb":
        if type(doc) is not dict or type(doc.get(table.name, {})) is not dict:
            raise SourceError("not a TinyDB file any more; run `dbfold analyze` again")
        items = list(doc.get(table.name, {}).items())
        state.records = len(items)
        yield _keyed(items, table.key or "id", True)
        return
    raise SourceError(f"layout {layout!r} is not supported by migrate yet")


def jsonl_records(
    path: Path,
    state: ReadState,
    *,
    start: int = 0,
    start_line: int = 0,
    hasher: Any = None,
    end: int | None = None,
) -> Iterator[list[Record]]:
    """Record batches of a JSONL file from byte offset ``start`` (line ``start_line`` before it).

    ``state.bytes`` and ``state.lines`` always point just after the last line delivered, so
    they are the watermark to journal once the batch is stored.
    """
    state.bytes = start
    state.lines = start_line
    with open(path, "rb") as f:
        f.seek(start)
        while True:
            lines = f.readlines(LINES_CHUNK)
            if end is not None:
                # Only what the journal says was migrated (verify of a growing file).
                room, kept = end - state.bytes, []
                for line in lines:
                    if len(line) > room:
                        break
                    room -= len(line)
                    kept.append(line)
                lines = kept
            if not lines:
                return
            last = lines[-1]
            if not last.endswith(b"\n") and not _parses(last):
                # A writer is appending this line right now: leave it for the next run.
                lines.pop()
                if not lines:
                    return
            if hasher is not None:
                hasher.update(b"".join(lines))
            if state.lines == 0 and lines[0].startswith(b"\xef\xbb\xbf"):
                state.bytes += 3
                lines[0] = lines[0][3:]
            try:
                values = list(map(orjson.loads, lines))
            except orjson.JSONDecodeError:
                values = _one_by_one(lines, state)
            else:
                state.lines += len(lines)
            recs = [v if type(v) is dict else as_record(v) for v in values]
            state.bytes += sum(map(len, lines))
            state.records += len(recs)
            yield recs


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return not line.strip()
    return True


def _one_by_one(lines: list[bytes], state: ReadState) -> list[Any]:
    out = []
    for line in lines:
        state.lines += 1
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            state.bad(state.lines, f"invalid JSON ({exc})")
    return out


def csv_records(
    path: Path, store: Store, table: Table, state: ReadState, casters: dict[str, Callable[..., Any]]
) -> Iterator[list[Record]]:
    """Record batches of a CSV file, each cell typed for its target column by ``casters``."""
    enc = store.encoding or "utf-8"
    dialect = dict(store.dialect)
    params: dict[str, Any] = {
        "delimiter": dialect.get("delimiter", ","),
        "quotechar": dialect.get("quotechar", '"'),
    }
    if dialect.get("escapechar"):
        params["escapechar"] = dialect["escapechar"]
    known = [c.name for c in table.columns]
    with open(path, encoding=enc, errors="replace", newline="") as f:
        reader = read_rows(f, **params)
        first = next(reader, None)
        while first is not None and not first:
            first = next(reader, None)
        if first is None:
            return
        names = _header(first)
        pending: list[list[str]] = []
        # analyze says whether the first row is a header (an analysis written before it
        # did: guessed from the names, which a first row with a blank cell fooled).
        said = dialect.get("header")
        headerless = (
            said == "no"
            if said in ("yes", "no")
            else not set(names) & set(known) and all(n.startswith("col_") for n in known)
        )
        if headerless:
            names = [f"col_{i}" for i in range(1, len(first) + 1)]
            pending.append(first)
        cast = [casters.get(n) for n in names]
        # The lines analyze would find in another delimiter: the same verdict, said whole
        # (the file is read to its end first so that the message is analyze's, word for word).
        changes = DelimiterChanges(params["delimiter"], len(names))
        batch: list[Record] = []
        try:
            for row in _chain(pending, reader):
                if not row:
                    continue
                if len(row) != changes.width and changes.check(row, reader.line_num):
                    for rest in reader:
                        if rest and len(rest) != changes.width:
                            changes.check(rest, reader.line_num)
                    raise NotMigratable(str(changes.message()))
                if len(row) > len(names):
                    names = names + [f"col_{i}" for i in range(len(names) + 1, len(row) + 1)]
                    cast = [casters.get(n) for n in names]
                batch.append(
                    {n: (c(v) if c else v) for n, c, v in zip(names, cast, row, strict=False)}
                )
                if len(batch) >= 10_000:
                    state.records += len(batch)
                    yield batch
                    batch = []
        except csv.Error as exc:
            raise SourceError(f"CSV error at line {reader.line_num} ({exc}); fix the file") from exc
        state.records += len(batch)
        state.bytes = path.stat().st_size
        if batch:
            yield batch


def _chain(first: list[list[str]], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield from first
    yield from rest

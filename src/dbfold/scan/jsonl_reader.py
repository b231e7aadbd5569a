"""Read JSONL/NDJSON stores: one record per line, in bounded memory, in parts if big.

Lines are parsed by orjson a chunk at a time and counted by
:class:`~dbfold.scan.records.RecordStats`. A big file is cut at line boundaries
(:func:`split_lines`) into parts that separate processes read (:func:`read_part`); the parts'
statistics merge exactly (:func:`finish`), so the result does not depend on how the file was
cut. Bad lines are reported by number and skipped; the others are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from dbfold.model import Problem, Store, Table
from dbfold.scan.json_reader import NAN, nan_problem
from dbfold.scan.records import RecordStats
from dbfold.scan.walk import display

#: Bytes of lines parsed together: small enough that the records are still in the CPU cache
#: when they are counted.
LINES_CHUNK = 64 * 1024
#: Bad lines reported one by one (the rest are counted).
MAX_LINE_PROBLEMS = 5
_BOM = b"\xef\xbb\xbf"


@dataclass
class Part:
    """What :func:`read_part` found in one stretch of lines.

    Attributes:
        stats: the statistics of the records read.
        lines: lines read (blank and bad ones included).
        bad: numbers, within the part and from 1, of lines that are not a JSON object.
        encoding: ``utf-8-sig`` when the part starts the file with a byte-order mark.
    """

    stats: RecordStats
    lines: int = 0
    bad: list[int] = field(default_factory=list)
    encoding: str = "utf-8"


def split_lines(path: Path, size: int, parts: int) -> list[tuple[int, int | None]]:
    """Cut ``path`` into about ``parts`` stretches of whole lines: ``(start, end)`` offsets.

    The last stretch ends at the end of the file (``None``), whatever it has grown to.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "x.jsonl"
    ...     _ = p.write_bytes(b'{"a": 1}\\n{"a": 22}\\n{"a": 3}\\n')
    ...     split_lines(p, p.stat().st_size, 2)
    [(0, 20), (20, None)]
    """
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, parts):
            at = max(cuts[-1], k * size // parts)
            f.seek(max(at - 1, 0))
            f.readline()  # to the start of the next line
            pos = f.tell()
            if pos >= size:
                break
            if pos > cuts[-1]:
                cuts.append(pos)
    ends: list[int | None] = [*cuts[1:], None]
    return list(zip(cuts, ends, strict=True))


def read_part(path: Path, start: int = 0, end: int | None = None) -> Part:
    """Count the records of the lines from byte ``start`` (a line start) to ``end`` (or EOF)."""
    part = Part(RecordStats())
    stats, bad = part.stats, part.bad
    with open(path, "rb") as f:
        if start == 0 and f.read(3) == _BOM:
            part.encoding = "utf-8-sig"
            pos = 3
        else:
            f.seek(start)
            pos = start
        left = None if end is None else end - pos
        tail = b""
        # Whole blocks, split at b"\n" only (as iterating a binary file does): readlines()
        # cannot stop at a given offset.
        while True:
            want = LINES_CHUNK if left is None else min(LINES_CHUNK, left)
            block = f.read(want) if want > 0 else b""
            if left is not None:
                left -= len(block)
            if block:
                data = tail + block
                cut = data.rfind(b"\n") + 1
                if not cut:
                    tail = data
                    continue
                lines, tail = data[:cut].split(b"\n")[:-1], data[cut:]
            elif tail:
                lines, tail = [tail], b""
            else:
                break
            try:
                recs: list[Any] | None = list(map(orjson.loads, lines))
            except orjson.JSONDecodeError:
                recs = None
            if recs is not None and set(map(type, recs)) == {dict}:
                stats.add_many(recs)
                part.lines += len(lines)
                continue
            # Some line is not a JSON object: keep the others, in order, and note the rest.
            good: list[dict[str, Any]] = []
            for line in lines:
                part.lines += 1
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    rec = None
                if type(rec) is dict:
                    good.append(rec)
                else:
                    bad.append(part.lines)
            stats.add_many(good)
    return part


def finish(path: Path, rel: str, size: int, parts: list[Part]) -> Store:
    """Put the parts of a file (in file order) back together into its store."""
    stats = parts[0].stats
    bad = list(parts[0].bad)
    lines = parts[0].lines
    for part in parts[1:]:
        stats.merge(part.stats)
        bad += [lines + n for n in part.bad]
        lines += part.lines
    problems = _second_look(path, rel, bad, stats) if bad else []
    return Store(
        rel,
        "jsonl",
        size,
        tables=(Table(display(path.stem), stats.rows, stats.columns(), layout="lines"),),
        problems=tuple(problems),
        encoding=parts[0].encoding,
    )


def read_jsonl(path: Path, rel: str, size: int) -> Store:
    """Describe a JSONL/NDJSON file; bad lines are reported by number and skipped."""
    return finish(path, rel, size, [read_part(path)])


def _second_look(path: Path, rel: str, bad: list[int], stats: RecordStats) -> list[Problem]:
    """Re-read the lines the fast pass rejected: blank lines, NaN, arrays, broken JSON."""
    wanted = set(bad)
    last = max(bad)
    errors: list[tuple[int, str]] = []
    nan = False
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if lineno > last:
                break
            if lineno not in wanted:
                continue
            if lineno == 1 and line.startswith(_BOM):
                line = line[3:]
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                errors.append((lineno, "not valid UTF-8"))
                continue
            except (json.JSONDecodeError, RecursionError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                errors.append((lineno, f"invalid JSON: {msg}"))
                continue
            if NAN.search(line):
                nan = True
            if type(value) is dict:
                stats.add(value)
            elif type(value) is list:
                stats.add_row(value)
            else:
                stats.add({"value": value})
    problems = [
        Problem(
            rel,
            f"{rel}: line {n}: {msg}; the line was skipped — fix or remove it",
            line=n,
        )
        for n, msg in errors[:MAX_LINE_PROBLEMS]
    ]
    if len(errors) > MAX_LINE_PROBLEMS:
        problems.append(
            Problem(
                rel,
                f"{rel}: {len(errors)} unreadable lines in all (first at line {errors[0][0]}); "
                "they were skipped",
            )
        )
    if nan:
        problems.append(nan_problem(rel))
    return problems

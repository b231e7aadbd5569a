"""Read CSV/TSV files as one record set; cells are typed from their text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from dbfold.model import Column, Problem, Store, Table
from dbfold.scan.json_verdict import NOT_MIGRATED
from dbfold.scan.records import RecordStats, infer_text
from dbfold.scan.walk import display

SAMPLE = 64 * 1024
MAX_RAGGED_LINES = 5
#: Rows typed together, column by column.
BATCH = 2048
_EXT_DELIMITER = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}
#: The delimiters a file (or one of its lines) may use.
DELIMITERS = ",\t;|"
#: Lines named in the delimiter-change verdict.
MAX_CHANGED_LINES = 3


class Rows(Protocol):
    """What :func:`read_rows` returns: the rows, and ``line_num`` as ``csv.reader`` has it."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


def _takes_nul() -> bool:
    try:
        return next(csv.reader(["a\0b"])) == ["a\0b"]
    except csv.Error:  # "line contains NUL"
        return False


#: Whether the csv module reads a NUL as any other character (Python 3.11+), or refuses the
#: line (3.10). Asked of the module itself rather than of the version number.
_TAKES_NUL = _takes_nul()
#: In the lines a csv module that refuses NUL is given, this mark and a digit stand for a NUL
#: ("0") or for the mark itself ("1"). A lone surrogate: no decoded file holds one, so
#: :func:`_hide` almost never has more to do than look, and it is no delimiter, quote or
#: escape character, so the rows are cut where they were.
_MARK = "\udfff"


def _hide(line: str) -> str:
    """``line`` without NUL, in the mark's pairs (see :data:`_MARK`)."""
    if "\0" in line or _MARK in line:
        return line.replace(_MARK, _MARK + "1").replace("\0", _MARK + "0")
    return line


def _show(cell: str) -> str:
    """The text of a cell of lines :func:`_hide` gave (every mark in it starts a pair)."""
    return cell.replace(_MARK + "0", "\0").replace(_MARK + "1", _MARK)


class _NulRows:
    """``csv.reader`` over lines whose NULs are hidden, giving cells with them back."""

    def __init__(self, lines: Iterable[str], dialect: Any, fmt: dict[str, Any]) -> None:
        self._rows = csv.reader(map(_hide, lines), dialect, **fmt)

    @property
    def line_num(self) -> int:
        return self._rows.line_num

    def __iter__(self) -> _NulRows:
        return self

    def __next__(self) -> list[str]:
        return [_show(c) if _MARK in c else c for c in next(self._rows)]


def read_rows(lines: Iterable[str], dialect: Any = "excel", **fmt: Any) -> Rows:
    """``csv.reader(lines, dialect, **fmt)``, reading a NUL in a cell on every Python.

    Python 3.10's csv module refuses a line holding a NUL (``line contains NUL``); from 3.11
    on it is a character like any other, and so it is here on 3.10 too. Analyze and migrate
    both read CSV through this, so that they see the same rows.

    >>> next(read_rows(["1,a\\x00b\\n"]))
    ['1', 'a\\x00b']
    """
    if _TAKES_NUL:
        return csv.reader(lines, dialect, **fmt)
    return _NulRows(lines, dialect, fmt)


class _Sniffer(csv.Sniffer):
    """A sniffer whose ``has_header`` reads the sample with a dialect already chosen."""

    def __init__(self, dialect: Any) -> None:
        super().__init__()
        self._dialect = dialect

    def sniff(self, sample: str, delimiters: str | None = None) -> Any:
        return self._dialect

    def has_header(self, sample: str) -> bool:
        # The stdlib reads the sample with csv.reader, which refuses NUL on 3.10. U+FFFD
        # weighs the same in its vote (one character, and no number), so the vote is 3.11's.
        return super().has_header(sample if _TAKES_NUL else sample.replace("\0", "\ufffd"))


def _plain(sample: str, delimiter: str) -> Any:
    """The excel dialect with ``delimiter`` if it gives every row the same width (≥ 2)."""
    plain = type("plain", (csv.excel,), {"delimiter": delimiter})
    try:
        widths = {len(row) for row in read_rows(io.StringIO(sample), plain) if row}
    except csv.Error:
        return None
    return plain if len(widths) == 1 and min(widths) >= 2 else None


def _majority(sample: str, default: str) -> Any:
    """The excel dialect with the delimiter that splits the first row into ≥ 2 cells and gives
    the most rows that width, or None: the sniffer gives up on a file whose delimiter changes
    (it wants one delimiter on nearly every line), and the extension's may split nothing.

    >>> _majority("id;name\\n1;x\\n2,y\\n3;z\\n", ",").delimiter
    ';'
    """
    best, score = None, 0
    for d in dict.fromkeys(default + DELIMITERS):
        dialect = type("plain", (csv.excel,), {"delimiter": d})
        try:
            rows = [r for r in read_rows(io.StringIO(sample), dialect) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        n = sum(1 for r in rows if len(r) == len(rows[0]))
        if n > score:
            best, score = dialect, n
    return best


def _one_row_header(sample: str, dialect: Any) -> bool | None:
    """For a sample of one row: whether it is a header (names, no number or boolean among its
    cells), or None when the sample holds more rows (the sniffer's vote decides).

    The sniffer calls any lone row a header, so a one-line file of data read as names lost
    its one record; a file of names alone is a table with those columns and no rows.
    """
    try:
        rows = [r for r in read_rows(io.StringIO(sample), dialect) if r]
    except csv.Error:
        return None
    if len(rows) != 1:
        return None
    return all(type(infer_text(c)) in (str, type(None)) for c in rows[0])


class DelimiterChanges:
    """Lines whose delimiter is not the file's: one cell under the file's delimiter that
    another one splits into as many cells as the header has.

    Shared by analyze and migrate, so that both give the file one verdict, in one message:
    it is not migrated (its rows would land split wrong, or not at all).
    """

    def __init__(self, delimiter: str, width: int) -> None:
        self.delimiter = delimiter
        self.width = width
        self.lines: list[tuple[int, str]] = []
        self.count = 0

    def check(self, row: list[str], line: int) -> bool:
        """Record ``row`` (ending at ``line``) if it uses another delimiter; True if it does."""
        if self.width < 2 or len(row) != 1:
            return False
        text = row[0]
        for d in DELIMITERS:
            if d != self.delimiter and d in text:
                cells = next(read_rows([text], delimiter=d), [])
                if len(cells) == self.width:
                    self.count += 1
                    if len(self.lines) < MAX_CHANGED_LINES:
                        self.lines.append((line, d))
                    return True
        return False

    @property
    def first_line(self) -> int | None:
        return self.lines[0][0] if self.lines else None

    def message(self) -> str | None:
        """The verdict, one line without the path (None: no line changes delimiter).

        >>> c = DelimiterChanges(",", 3)
        >>> c.check(["4;5;6"], 3), c.check(["7\\t8\\t9"], 4), c.check(["x"], 5)
        (True, True, False)
        >>> print(c.message())  # doctest: +NORMALIZE_WHITESPACE
        the delimiter changes: the file uses ',' but line 3 uses ';', line 4 uses tab (2 lines
        in all); the file will not be migrated — re-save it with ',' on every line (or fix
        those lines) and run `dbfold analyze` again
        """
        if not self.count:
            return None
        where = ", ".join(f"line {n} uses {_name(d)}" for n, d in self.lines)
        more = f", and {self.count - len(self.lines)} more" if self.count > len(self.lines) else ""
        mine = _name(self.delimiter)
        return (
            f"the delimiter changes: the file uses {mine} but {where}{more} ({self.count} "
            f"line{'s' if self.count > 1 else ''} in all); {NOT_MIGRATED} — re-save it with "
            f"{mine} on every line (or fix those lines) and run `dbfold analyze` again"
        )


def _name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _typed_header(sample: str, dialect: Any) -> bool:
    """Whether the first row is names over typed data: distinct non-empty text cells on top
    of at least one column whose non-empty cells below are all numbers or booleans.

    The sniffer's own vote compares string lengths and is easily outvoted on a tiny file
    (``flag`` over ``True`` has the same length); a word over a numeric column is not.
    """
    try:
        rows = [r for r in read_rows(io.StringIO(sample), dialect) if r]
    except csv.Error:
        return False
    if len(rows) < 2:
        return False
    head, rest = rows[0], [r for r in rows[1:21] if len(r) == len(rows[0])]
    if not rest or len(set(head)) != len(head):
        return False
    if any(type(infer_text(c)) is not str for c in head):
        return False
    for i in range(len(head)):
        cells = [v for r in rest if (v := infer_text(r[i])) is not None]
        if cells and all(type(v) in (int, float, bool) for v in cells):
            return True
    return False


def _header(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(names, 1):
        name = raw.strip() or f"col_{i}"
        base, n = name, 2
        while name in seen:
            name = f"{base}_{n}"
            n += 1
        seen.add(name)
        out.append(name)
    return out


def read_csv(path: Path, rel: str, size: int) -> Store:
    """Describe a CSV/TSV/PSV file: dialect, header, typed columns, ragged rows."""
    with open(path, "rb") as fb:
        head = fb.read(SAMPLE)
    enc = "utf-8-sig" if head.startswith(b"\xef\xbb\xbf") else "utf-8"
    problems: list[Problem] = []
    try:
        sample = head.decode(enc)
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            problems.append(_bad_utf8(rel))
        sample = head.decode(enc, "replace")
    ext = path.suffix.lower()
    default = _EXT_DELIMITER.get(ext, ",")
    lines = sample.splitlines()
    if len(head) == SAMPLE and len(lines) > 1:
        sample = "\n".join(lines[:-1])  # drop a line cut by the sample's end
    # The extension's delimiter wins when it splits every row of the sample alike: the
    # sniffer guesses from character counts and can pick ';' or '|' out of a quoted cell.
    dialect: Any = _plain(sample, default)
    try:
        if dialect is None:
            dialect = csv.Sniffer().sniff(sample, delimiters=default + ",\t;|")
    except csv.Error:
        dialect = _majority(sample, default)
        if dialect is None:
            dialect = csv.excel_tab if default == "\t" else csv.excel
            if default == "|":
                dialect = type("psv", (csv.excel,), {"delimiter": "|"})
    try:
        # has_header() sniffs the dialect again, without the delimiters allowed above, and a
        # tiny sample can then be split on ':' or '"': judge the header with our dialect.
        one = _one_row_header(sample, dialect)
        if one is not None:
            has_header = one
        else:
            has_header = _Sniffer(dialect).has_header(sample) if sample.strip() else False
            has_header = has_header or _typed_header(sample, dialect)
    except csv.Error:
        has_header = True
    stats = RecordStats()
    ragged: list[int] = []
    ragged_count = 0
    names: list[str] = []
    changes = DelimiterChanges(dialect.delimiter, 0)
    with open(path, encoding=enc, errors="replace", newline="") as f:
        reader = read_rows(f, dialect)
        try:
            first = next(reader, None)
            while first is not None and not first:
                first = next(reader, None)
            if first is None:
                return Store(rel, "csv", size, encoding=enc, dialect=_dialect(dialect))
            if has_header:
                names = _header(first)
                rows: Iterator[list[str]] = reader
                line = reader.line_num  # the last line read before ``rows``
            else:
                names = [f"col_{i}" for i in range(1, len(first) + 1)]
                rows = _chain(first, reader)
                line = reader.line_num - _lines_of(first)
            width = len(names)
            changes.width = width
            # Rows are taken a batch at a time (at C speed); a batch whose rows all have the
            # expected width is typed column by column. Otherwise its rows go one by one, in
            # order: those of the expected width batched, ragged rows alone.
            error: csv.Error | None = None
            last: list[str] = []
            while error is None:
                batch: list[list[str]] = []
                try:
                    batch.extend(islice(rows, BATCH))  # keeps the rows read before an error
                except csv.Error as exc:
                    error = exc
                if not batch:
                    break
                last = batch[-1]
                if len(batch[0]) == width and len(set(map(len, batch))) == 1:
                    stats.add_text_columns(names, list(zip(*batch, strict=True)))
                    line = reader.line_num
                    continue
                plain: list[list[str]] = []
                for row in batch:
                    line += _lines_of(row)
                    if len(row) == width:
                        plain.append(row)
                        continue
                    if not row:
                        continue
                    if plain:
                        stats.add_text_columns(names, list(zip(*plain, strict=True)))
                        plain.clear()
                    if changes.check(row, line):
                        stats.add(dict(zip(names, map(infer_text, row), strict=False)))
                        continue
                    ragged_count += 1
                    if len(ragged) < MAX_RAGGED_LINES:
                        ragged.append(line)
                    if len(row) > width:
                        names = names + [f"col_{i}" for i in range(width + 1, len(row) + 1)]
                        width = len(row)
                    stats.add(dict(zip(names, map(infer_text, row), strict=False)))
                if plain:
                    stats.add_text_columns(names, list(zip(*plain, strict=True)))
                line = reader.line_num
            if error is not None:
                raise error  # reported below, after the rows before it were counted
        except csv.Error as exc:
            problems.append(
                Problem(
                    rel,
                    f"{rel}: CSV error at line {reader.line_num} ({exc}); the rows before it "
                    "were analysed — fix the file",
                    line=reader.line_num,
                )
            )
    if (
        not problems
        and any("\n" in c or "\r" in c for c in last)
        and _open_quote(path, enc, dialect)
    ):
        problems.append(
            Problem(
                rel,
                f"{rel}: a quoted cell in the last row is never closed, so the rest of the "
                "file was read into that one cell; close the quote and re-run analyze",
            )
        )
    if "\ufffd" in sample and not problems:
        problems.append(_bad_utf8(rel))
    verdict = changes.message()
    if verdict is not None:
        problems.insert(0, Problem(rel, f"{rel}: {verdict}", line=changes.first_line))
    if ragged_count:
        where = ", ".join(str(n) for n in ragged)
        more = f" and {ragged_count - len(ragged)} more" if ragged_count > len(ragged) else ""
        problems.append(
            Problem(
                rel,
                f"{rel}: {ragged_count} rows have a different number of fields than the "
                f"header (lines {where}{more}); check quoting and delimiters",
                severity="warning",
                line=ragged[0],
            )
        )
    # A header over no rows still names the columns: a table of them, empty.
    columns = _as_text(stats.columns()) if stats.rows else tuple(Column(n, "text") for n in names)
    return Store(
        rel,
        "csv",
        size,
        tables=(Table(display(path.stem), stats.rows, columns, layout="csv"),),
        problems=tuple(problems),
        encoding=enc,
        dialect={**_dialect(dialect), "header": "yes" if has_header else "no"},
    )


def _open_quote(path: Path, enc: str, dialect: Any) -> bool:
    """Whether the file ends inside a quoted cell (the lenient reader accepts that silently).

    Only asked when the last row has a cell with a line break, so a second pass is rare.
    """
    with open(path, encoding=enc, errors="replace", newline="") as f:
        try:
            for _row in read_rows(f, dialect, strict=True):
                pass
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
    return False


def _as_text(cols: tuple[Column, ...]) -> tuple[Column, ...]:
    """In a CSV every cell is text: a column mixing numbers and words is text."""
    return tuple(replace(c, type="text") if c.type == "mixed" else c for c in cols)


def _bad_utf8(rel: str) -> Problem:
    return Problem(
        rel,
        f"{rel}: not valid UTF-8; bad bytes were read as U+FFFD — re-save the file as UTF-8",
        "warning",
    )


def _lines_of(row: list[str]) -> int:
    """Lines a parsed row spanned: one, plus the line breaks inside its quoted cells.

    >>> _lines_of([]), _lines_of(["a", "b"]), _lines_of(["x\\r\\ny", "1\\n2\\r3"])
    (1, 1, 4)
    """
    return 1 + sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in row)


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def _dialect(d: Any) -> dict[str, str]:
    out = {"delimiter": d.delimiter, "quotechar": d.quotechar or '"'}
    if getattr(d, "escapechar", None):
        out["escapechar"] = d.escapechar
    return out

"""One verdict on what a JSON file holds, shared by ``analyze`` and ``migrate``.

A user plans on what ``analyze`` says, so both sides judge a JSON file with :func:`judge`
(or, for a file too big to read whole, say the same about a streaming error with
:func:`stream_error`). The verdict is one of:

* read as is;
* read with a warning: NaN/Infinity (read as numbers: NaN arrives as NULL, as SQLite has no
  NaN; ±Infinity as ±Inf), duplicate keys in an object (the last one wins, as json and orjson
  do), bytes that are not UTF-8 (read as U+FFFD);
* not migratable: data after the value (dbfold never drops it silently), a truncated or
  invalid file, nesting too deep to read, UTF-16 text. The message is one line without the
  path, says where (line, column) and what to do, and contains :data:`NOT_MIGRATED`, by
  which ``design`` excludes the store (:func:`not_migratable`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

#: Every not-migratable message contains this; ``design`` excludes such stores.
NOT_MIGRATED = "the file will not be migrated"
NAN = re.compile(rb"\b(?:NaN|-?Infinity)\b")
#: Files up to this size are checked for duplicate keys (one extra pure-Python parse).
DUPLICATES_MAX = 4 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_WHERE = re.compile(r"line (\d+) column (\d+)")


@dataclass(frozen=True)
class Verdict:
    """What a JSON file holds: its value, warnings, or why it will not be migrated."""

    value: Any = None
    error: str | None = None
    line: int | None = None
    warnings: tuple[str, ...] = ()
    #: What can still be described when the file is not migratable (the value before
    #: trailing data), else None.
    readable: Any = None

    @property
    def migratable(self) -> bool:
        return self.error is None


def not_migratable(message: str) -> bool:
    """Whether a problem message is a not-migratable verdict."""
    return NOT_MIGRATED in message


def nan_warning() -> str:
    return (
        "non-standard NaN/Infinity values (not JSON); they are read as numbers: NaN arrives"
        " as NULL (SQLite has no NaN), ±Infinity as ±Inf — write null instead, other tools"
        " reject the file"
    )


def duplicate_warning(key: str) -> str:
    return (
        f"duplicate key {key!r} in an object; the last value wins (as in json and orjson)"
        " and the earlier ones are not migrated — remove the duplicates"
    )


def utf8_warning(offset: int) -> str:
    return (
        f"not valid UTF-8 (first bad byte at offset {offset}); the bad bytes were read as"
        " U+FFFD — re-save the file as UTF-8"
    )


def too_deep() -> str:
    return (
        "nested too deeply to read (more than 1,000 levels of arrays/objects); "
        f"{NOT_MIGRATED} — flatten the data or exclude the file"
    )


def utf16() -> str:
    return f"UTF-16 text; dbfold reads UTF-8, so {NOT_MIGRATED} — re-save it as UTF-8"


def not_records(value: Any) -> str:
    """The message for a top-level value that is no record set (a scalar)."""
    what = "null" if value is None else type(value).__name__
    return (
        f"holds a single {what} value, not records; {NOT_MIGRATED} — make it an array of"
        " objects or an id → object map"
    )


def stream_error(records: int, exc: BaseException) -> str:
    """A streaming parser's error as one line (the parser's first line only)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    return f"invalid JSON after {records} records ({first}); {NOT_MIGRATED} — fix the file"


class _Dups:
    def __init__(self) -> None:
        self.first: str | None = None

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) != len(pairs) and self.first is None:
            seen: set[str] = set()
            for k, _v in pairs:
                if k in seen:
                    self.first = k
                    break
                seen.add(k)
        return d


def duplicate_key(raw: bytes) -> str | None:
    """The first key that occurs twice in one object of ``raw`` (a valid file), or None."""
    if len(raw) > DUPLICATES_MAX:
        return None
    hook = _Dups()
    try:
        json.loads(raw.decode("utf-8", "replace"), object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return None
    return hook.first


def judge(raw: bytes, *, duplicates: bool = True) -> Verdict:
    """The verdict on a whole JSON file's bytes (never raises on bad input)."""
    if raw.startswith(_BOM):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Verdict(error=utf16())
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        first_error = str(exc)
    else:
        dup = duplicate_key(raw) if duplicates else None
        return Verdict(value=value, warnings=(duplicate_warning(dup),) if dup is not None else ())
    warnings: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", "replace")
        warnings.append(utf8_warning(exc.start))
    if "recursion limit" in first_error:
        return Verdict(error=too_deep(), warnings=tuple(warnings))
    if "surrogate" in first_error and "UTF-8" not in first_error:
        # json would read it, but such a string cannot be stored as UTF-8 text.
        at = _WHERE.search(first_error)
        line = int(at.group(1)) if at else None
        where = f" (line {at.group(1)}, column {at.group(2)})" if at else ""
        error = (
            f"a string holds a lone UTF-16 surrogate escape{where}, which is no character;"
            f" {NOT_MIGRATED} — write the pair (or the character itself)"
        )
        return Verdict(error=error, line=line, warnings=tuple(warnings))
    hook = _Dups()
    try:
        value = json.loads(text, object_pairs_hook=hook)
    except RecursionError:
        return Verdict(error=too_deep(), warnings=tuple(warnings))
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        if exc.msg == "Extra data":
            try:
                readable, _end = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip()))
            except (ValueError, RecursionError):
                readable = None
            error = (
                f"unexpected data after the JSON value ({where}); {NOT_MIGRATED}, as dbfold"
                " never drops data silently — remove the trailing data or make it part of"
                " the value"
            )
            return Verdict(
                error=error, line=exc.lineno, warnings=tuple(warnings), readable=readable
            )
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            error = (
                f"the JSON value is cut short ({where}: {exc.msg}); the file looks truncated,"
                f" so {NOT_MIGRATED} — restore the complete file"
            )
        else:
            error = f"invalid JSON ({where}: {exc.msg}); {NOT_MIGRATED} — fix the file"
        return Verdict(error=error, line=exc.lineno, warnings=tuple(warnings))
    if NAN.search(raw):
        warnings.append(nan_warning())
    if hook.first is not None:
        warnings.append(duplicate_warning(hook.first))
    return Verdict(value=value, warnings=tuple(warnings))


def judge_store(raw: bytes) -> Verdict:
    """:func:`judge` for a file that must be a store: a top-level scalar is not migratable."""
    verdict = judge(raw, duplicates=False)
    if verdict.error is None and not isinstance(verdict.value, (list, dict)):
        return Verdict(error=not_records(verdict.value), warnings=verdict.warnings)
    return verdict


def judge_file(path: Path) -> Verdict:
    """:func:`judge_store` of a JSON file read whole.

    Plain I/O is safe here: analyze found the file to be JSON by its content, so it is no
    SQLite database whose locks closing a descriptor could drop.
    """
    return judge_store(path.read_bytes())

"""From source records to SQL parameters: path extraction, JSON columns, CSV cell typing.

An extractor is compiled once per source from the plan's column map: a small function
``record -> tuple`` built from the source paths (field names are embedded as ``repr``
literals, never as code). Values pass to SQLite as they are; only what sqlite3 cannot bind
(objects, arrays, integers beyond 64 bits) is converted, by :func:`fix_row`, and only for a
batch that sqlite3 rejected — the common case pays nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from dbfold.plan import split_path
from dbfold.scan.records import infer_text

Record = dict[str, Any]
Extractor = Callable[[Record], tuple[Any, ...]]

_INT64 = (-(2**63), 2**63 - 1)
_EMPTY: dict[str, Any] = {}


def dump_json(value: Any) -> str | None:
    """A value as JSON text for a ``json`` column (None stays NULL), as the runtime reads it.

    >>> dump_json({"a": [1, 2]}), dump_json("x"), dump_json(None)
    ('{"a":[1,2]}', '"x"', None)
    """
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits: the standard library writes them exactly.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dig(record: Any, keys: tuple[str, ...]) -> Any:
    """Follow nested field names; a missing field or a non-object on the way gives None.

    >>> dig({"a": {"b": 1}}, ("a", "b")), dig({"a": 3}, ("a", "b"))
    (1, None)
    """
    for k in keys:
        if type(record) is not dict:
            return None
        record = record.get(k)
    return record


def fix_value(value: Any) -> Any:
    """Make one value bindable: objects/arrays → JSON text, huge integers → text."""
    t = type(value)
    if t is dict or t is list:
        return dump_json(value)
    if t is int and not _INT64[0] <= value <= _INT64[1]:
        return str(value)
    return value


def fix_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """:func:`fix_value` over a row."""
    return tuple(fix_value(v) for v in row)


def make_extractor(paths: Sequence[str], json_columns: Sequence[bool]) -> Extractor:
    """Compile ``record -> tuple`` for source paths; ``json_columns[i]`` dumps value i as JSON.

    >>> f = make_extractor(["id", "meta.author", "tags"], [False, False, True])
    >>> f({"id": 1, "meta": {"author": "ann"}, "tags": ["x"]})
    (1, 'ann', '["x"]')
    """
    env: dict[str, Any] = {"_dig": dig, "_j": dump_json}
    parts = []
    for i, (path, as_json) in enumerate(zip(paths, json_columns, strict=True)):
        keys = split_path(path)
        if len(keys) == 1:
            expr = f"r.get({keys[0]!r})"
        else:
            env[f"_k{i}"] = keys
            expr = f"_dig(r, _k{i})"
        parts.append(f"_j({expr})" if as_json else expr)
    body = ", ".join(parts)
    code = f"lambda r: ({body},)" if parts else "lambda r: ()"
    fn: Extractor = eval(code, env)  # only repr'd names and fixed helpers: no user code
    return fn


def as_record(value: Any) -> Record:
    """A JSON element as a record: objects as they are, arrays positionally, scalars as value."""
    if type(value) is dict:
        return value
    if type(value) is list:
        return {f"col_{i}": v for i, v in enumerate(value, 1)}
    return {"value": value}


def csv_caster(target_type: str) -> Callable[[str | None], Any]:
    """How a CSV cell becomes a value for a target column of ``target_type``.

    Text-like columns keep the cell's text exactly (``007`` stays ``007``); numeric columns
    type it the way ``analyze`` did. An empty cell is NULL.

    >>> csv_caster("text")("007"), csv_caster("integer")("12"), csv_caster("real")("")
    ('007', 12, None)
    """
    if target_type in ("text", "timestamp", "json", "blob"):
        if target_type == "json":
            return lambda v: dump_json(v) if v else None
        return lambda v: v if v else None
    return lambda v: infer_text(v) if v else None

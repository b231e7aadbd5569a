"""Streaming field inference for record sets (JSON, JSONL, CSV, TinyDB).

Records are fed one at a time; memory holds one counter per field and per distinct record
*shape* (the tuple of keys and value types), never the values themselves. Counting shapes
instead of fields keeps the per-record cost to a few C-level tuple builds and one dict update,
which matters because a JSON file may hold millions of records.

>>> stats = RecordStats()
>>> for rec in ({"id": 1, "name": "a"}, {"id": 2, "name": None, "tags": [{"k": 1}]}):
...     stats.add(rec)
>>> cols = stats.columns()
>>> [(c.name, c.type, c.present, c.nullable) for c in cols]
[('id', 'integer', 2, False), ('name', 'text', 2, True), ('tags', 'array', 1, True)]
>>> cols[2].fields[0].name
'k'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice, repeat
from operator import itemgetter
from typing import Any

from dbfold.model import Column

#: How deep nested objects are described in ``Column.fields``; deeper objects stay "object".
MAX_DEPTH = 4
#: Distinct shapes kept before they are folded into the per-field counters.
MAX_SHAPES = 4096
#: Records counted together by :meth:`RecordStats.add_many`.
BATCH = 2048
#: Values per field examined for value-based hints (timestamps, UUIDs).
HINT_SAMPLE = 200

NULL, BOOLEAN, INTEGER, REAL, TEXT, OBJECT, ARRAY = range(7)
TYPE_NAMES = ("null", "boolean", "integer", "real", "text", "object", "array")
_NONE = type(None)
_CODE: dict[type, int] = {
    type(None): NULL,
    bool: BOOLEAN,
    int: INTEGER,
    float: REAL,
    str: TEXT,
    dict: OBJECT,
    list: ARRAY,
    tuple: ARRAY,
}

_ISO_TS = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\Z"
)
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\Z"
)
_TS_NAME = re.compile(
    r"(?:^|_)(?:at|on|time|date|ts|timestamp|datetime|created|updated|modified|deleted)$"
    r"|(?:At|Time|Date|Ts|Timestamp)$|^(?:time|date|ts|timestamp|datetime|when)",
    re.IGNORECASE,
)
_ID_NAME = re.compile(r"^(?:id|_id|uuid|guid|pk|key)$|_id$|_uuid$|[a-z]Id$", re.IGNORECASE)


def looks_like_timestamp_name(name: str) -> bool:
    """True for field names such as ``created_at``, ``ts``, ``date`` or ``updatedAt``."""
    return bool(_TS_NAME.search(name))


def is_iso_timestamp(text: str) -> bool:
    """True for ISO-8601 dates and date-times (``2024-01-02``, ``2024-01-02T10:00:00Z``)."""
    return bool(_ISO_TS.match(text))


def _is_epoch(value: int | float) -> bool:
    # Seconds from 2001 to 2100, or the same in milliseconds.
    return 1e9 <= value < 4.2e9 or 1e12 <= value < 4.2e12


#: What a sampled value looks like (see :func:`_hint`).
_PLAIN, _TIMESTAMP, _UUID_VALUE = range(3)


def _hint(f: _Field, v: Any) -> None:
    """Feed one value to ``f``'s timestamp/UUID sample."""
    if type(v) is str:
        if _ISO_TS.match(v):
            f.samples.append(_TIMESTAMP)
        elif _UUID.match(v):
            f.samples.append(_UUID_VALUE)
        else:
            f.samples.append(_PLAIN)
    elif type(v) is not bool and _is_epoch(v):
        f.samples.append(_TIMESTAMP)
    else:
        f.samples.append(_PLAIN)


class _Field:
    """Counters of one field; ``children``/``items`` describe nested objects.

    ``samples`` holds what each of the first :data:`HINT_SAMPLE` scalar values looked like,
    in order, so that statistics of consecutive parts of a file merge exactly.
    """

    __slots__ = ("children", "counts", "first", "items", "name", "present", "samples")

    def __init__(self, name: str, first: int) -> None:
        self.name = name
        self.first = first
        self.present = 0
        self.counts = [0] * 7
        self.children: RecordStats | None = None
        self.items: RecordStats | None = None
        self.samples: list[int] = []

    @property
    def sampled(self) -> int:
        """Values sampled so far."""
        return len(self.samples)


class _Shape:
    __slots__ = ("count", "nested", "sample")

    def __init__(self, nested: tuple[int, ...], sample: tuple[int, ...]) -> None:
        self.count = 0
        self.nested = nested  # positions of object/array values
        self.sample = sample  # positions whose values feed value-based hints


class RecordStats:
    """Field statistics over a stream of records (dicts) or rows (lists).

    Args:
        depth: nesting depth of these records (0 for top-level records).
    """

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth
        self.rows = 0
        self._fields: dict[str, _Field] = {}
        self._shapes: dict[tuple[tuple[Any, ...], tuple[type, ...]], _Shape] = {}

    # -- feeding -------------------------------------------------------------------------
    def add(self, rec: dict[str, Any]) -> None:
        """Count one record (a JSON object)."""
        vals = tuple(rec.values())
        sig = (tuple(rec), tuple(map(type, vals)))
        shape = self._shapes.get(sig)
        if shape is None:
            shape = self._new_shape(sig)
        self.rows += 1
        shape.count += 1
        if shape.nested:
            self._nested(sig[0], vals, shape.nested)
        if shape.sample:
            self._sample(shape, sig[0], vals)

    def add_many(self, recs: Iterable[dict[str, Any]]) -> None:
        """Count many records; same as calling :meth:`add` for each, much faster.

        Records are counted a batch at a time (:meth:`_add_batch`). A record that is not an
        object raises ``AttributeError`` as :meth:`add` would, after every record before it
        was counted (``rows`` then says where it was). An exception raised by ``recs`` itself
        loses the records of its batch read so far: feed lists where that can happen.
        """
        it = iter(recs)
        while batch := list(islice(it, BATCH)):
            if len(set(map(type, batch))) != 1 or type(batch[0]) is not dict:
                j = next(i for i, r in enumerate(batch) if type(r) is not dict)
                if j:
                    self._add_batch(batch[:j])
                raise AttributeError(f"not a record: {type(batch[j]).__name__}")
            self._add_batch(batch)

    def _add_batch(self, batch: Sequence[dict[str, Any]]) -> None:
        """Count a batch of records field by field, with C-level passes, not per record.

        The same counts as :meth:`add` of each record in order: key sets are counted with a
        ``Counter`` (whose order is that of first occurrence, so a new field gets the row where
        it first appears), then each field's values are typed at once; nested values and hint
        samples are gathered per field, in record order.
        """
        n = len(batch)
        columns = _one_shape(batch)
        keysets: list[tuple[Any, ...]] = []
        if columns is not None:
            counted: Mapping[tuple[Any, ...], int] = {tuple(columns): n}
        else:
            keysets = list(map(tuple, batch))
            counted = Counter(keysets)
        fields = self._fields
        base = self.rows
        present: dict[Any, int] = {}
        first: dict[tuple[Any, ...], int] | None = None
        for keys, c in counted.items():
            for k in keys:
                if k not in fields:
                    if first is None:
                        first = (
                            dict(zip(reversed(keysets), range(n - 1, -1, -1), strict=True))
                            if keysets
                            else {keys: 0}
                        )
                    fields[k] = _Field(str(k), base + first[keys])
                present[k] = present.get(k, 0) + c
        self.rows = base + n
        nested = self.depth < MAX_DEPTH
        for k, c in present.items():
            f = fields[k]
            f.present += c
            vals = columns[k] if columns is not None else list(map(dict.get, batch, repeat(k)))
            types = set(map(type, vals))
            counts = f.counts
            kinds: dict[type, int]
            if len(types) == 1:  # one type: no need to count them (a set is 3× cheaper)
                t = types.pop()
                kinds = {t: n}
                counts[_CODE.get(t, TEXT)] += c  # when c < n, t is NoneType from dict.get
            else:
                kinds = Counter(map(type, vals))
                missing = n - c  # dict.get gave None for these
                for t, m in kinds.items():
                    if t is _NONE:
                        m -= missing
                    counts[_CODE.get(t, TEXT)] += m
            if nested and dict in kinds:
                # The usual nested field holds an object in every record: no filtering.
                objs: Sequence[Any] = (
                    vals if kinds[dict] == n else [v for v in vals if type(v) is dict]
                )
                if f.children is None:
                    f.children = RecordStats(self.depth + 1)
                f.children._add_batch(objs)  # objects only, and no more than a batch
            if nested and (list in kinds or tuple in kinds):
                elems = [
                    e
                    for v in vals
                    if type(v) is list or type(v) is tuple
                    for e in v
                    if type(e) is dict
                ]
                if elems:
                    if f.items is None:
                        f.items = RecordStats(self.depth + 1)
                    f.items.add_many(elems)
            if f.sampled < HINT_SAMPLE:
                for v in vals:
                    if _CODE.get(type(v), TEXT) in (TEXT, INTEGER, REAL):
                        _hint(f, v)
                        if f.sampled >= HINT_SAMPLE:
                            break

    def merge(self, other: RecordStats) -> None:
        """Add the statistics of ``other``, made from the records that follow this one's.

        The result is exactly what feeding both streams, in order, to this one would have
        given, so a file can be read in parts (by several processes) and put back together.
        """
        self._fold()
        other._fold()
        base = self.rows
        fields = self._fields
        for k, g in other._fields.items():
            f = fields.get(k)
            if f is None:
                f = fields[k] = _Field(g.name, base + g.first)
            f.present += g.present
            f.counts = [a + b for a, b in zip(f.counts, g.counts, strict=True)]
            room = HINT_SAMPLE - len(f.samples)
            if room > 0:
                f.samples += g.samples[:room]
            if g.children is not None:
                if f.children is None:
                    f.children = RecordStats(self.depth + 1)
                f.children.merge(g.children)
            if g.items is not None:
                if f.items is None:
                    f.items = RecordStats(self.depth + 1)
                f.items.merge(g.items)
        self.rows += other.rows

    def add_row(self, row: Sequence[Any]) -> None:
        """Count one positional row (a JSON array); fields are ``col_1``, ``col_2`` …"""
        self.add({f"col_{i}": v for i, v in enumerate(row, 1)})

    # -- internals -----------------------------------------------------------------------
    def _new_shape(self, sig: tuple[tuple[Any, ...], tuple[type, ...]]) -> _Shape:
        if len(self._shapes) >= MAX_SHAPES:
            self._fold()
        keys, types = sig
        fields = self._fields
        nested: list[int] = []
        sample: list[int] = []
        for i, (k, t) in enumerate(zip(keys, types, strict=True)):
            f = fields.get(k)
            if f is None:
                f = fields[k] = _Field(str(k), self.rows)
            code = _CODE.get(t, TEXT)
            if code >= OBJECT:
                nested.append(i)
            elif code in (TEXT, INTEGER, REAL) and f.sampled < HINT_SAMPLE:
                sample.append(i)
        shape = _Shape(tuple(nested), tuple(sample))
        self._shapes[sig] = shape
        return shape

    def _fold(self) -> None:
        """Move shape counts into the per-field counters and forget the shapes."""
        fields = self._fields
        for (keys, types), shape in self._shapes.items():
            c = shape.count
            if not c:
                continue
            for k, t in zip(keys, types, strict=True):
                f = fields[k]
                f.present += c
                f.counts[_CODE.get(t, TEXT)] += c
        self._shapes.clear()

    def _nested(self, keys: tuple[Any, ...], vals: tuple[Any, ...], pos: tuple[int, ...]) -> None:
        if self.depth >= MAX_DEPTH:
            return
        fields = self._fields
        for i in pos:
            v = vals[i]
            f = fields[keys[i]]
            if type(v) is dict:
                if f.children is None:
                    f.children = RecordStats(self.depth + 1)
                f.children.add(v)
            elif v:
                items = f.items
                for e in v:
                    if type(e) is dict:
                        if items is None:
                            items = f.items = RecordStats(self.depth + 1)
                        items.add(e)

    def _sample(self, shape: _Shape, keys: tuple[Any, ...], vals: tuple[Any, ...]) -> None:
        fields = self._fields
        busy = False
        for i in shape.sample:
            f = fields[keys[i]]
            if f.sampled >= HINT_SAMPLE:
                continue
            busy = True
            _hint(f, vals[i])
        if not busy:
            shape.sample = ()

    def add_text_columns(self, names: Sequence[str], columns: Sequence[Sequence[str]]) -> None:
        """Count rows of text cells given column by column (CSV), typed by :func:`infer_text`.

        The same counts as :meth:`add` of each row as a dict of typed cells, but each column
        of a batch is typed at once: whole-batch regular expressions over the joined cells
        settle the usual columns (all integers, all numbers, all plain text) in C, and only
        the other columns type each distinct cell.
        """
        n = len(columns[0]) if columns else 0
        fields = self._fields
        for name, vals in zip(names, columns, strict=True):
            f = fields.get(name)
            if f is None:
                f = fields[name] = _Field(str(name), self.rows)
            f.present += n
            counts = f.counts
            for code, c in enumerate(text_counts(vals)):
                counts[code] += c
            if f.sampled < HINT_SAMPLE:
                for v in vals:
                    x = infer_text(v)
                    if _CODE.get(type(x), TEXT) in (TEXT, INTEGER, REAL):
                        _hint(f, x)
                        if f.sampled >= HINT_SAMPLE:
                            break
        self.rows += n

    # -- results -------------------------------------------------------------------------
    def columns(self) -> tuple[Column, ...]:
        """Describe every field seen, in order of first appearance."""
        self._fold()
        late_after = max(100, self.rows // 100)
        return tuple(self._column(f, late_after) for f in self._fields.values())

    def _column(self, f: _Field, late_after: int) -> Column:
        counts = f.counts
        observed = {TYPE_NAMES[i]: n for i, n in enumerate(counts) if n}
        kinds = [i for i in range(1, 7) if counts[i]]
        hints: list[str] = []
        if not kinds:
            typ = "text"
            hints.append("all_null")
        elif len(kinds) == 1:
            typ = TYPE_NAMES[kinds[0]]
        elif kinds == [INTEGER, REAL]:
            typ = "real"
        else:
            typ = "mixed"
            hints.append("mixed_types")
        nonnull = f.present - counts[NULL]
        samples = set(f.samples)
        if typ in ("integer", "text") and (_ID_NAME.search(f.name) or samples == {_UUID_VALUE}):
            hints.insert(0, "id")
        if (
            typ in ("text", "integer", "real")
            and samples == {_TIMESTAMP}
            and (typ == "text" or looks_like_timestamp_name(f.name))
        ):
            hints.append("timestamp")
        if f.first >= late_after:
            hints.append("late")
        sub: tuple[Column, ...] = ()
        if f.children is not None and nonnull:
            sub = f.children.columns()
        elif f.items is not None:
            sub = f.items.columns()
        return Column(
            name=f.name,
            type=typ,
            nullable=f.present < self.rows or counts[NULL] > 0,
            present=f.present,
            observed=observed,
            fields=sub,
            hints=tuple(hints),
        )


def _one_shape(batch: Sequence[dict[str, Any]]) -> dict[Any, Sequence[Any]] | None:
    """Every field's values (in record order) if all records have the first one's keys.

    Same size and every one of those keys found means the same key set: one ``itemgetter``
    pass over the records and a transpose, instead of a key tuple per record and a count of
    them (the usual batch holds one shape).
    """
    keys = tuple(batch[0])
    if list(map(len, batch)).count(len(keys)) != len(batch):
        return None
    if not keys:
        return {}
    try:
        values = list(map(itemgetter(*keys), batch))
    except KeyError:
        return None
    if len(keys) == 1:  # itemgetter of one key gives the value itself
        return {keys[0]: values}
    return dict(zip(keys, zip(*values, strict=True), strict=True))


def infer_text(value: str) -> Any:
    """Type a CSV cell: '' → None, integers, reals, true/false; anything else stays text.

    >>> [infer_text(v) for v in ("", "12", "-3.5", "true", "x", "1e3", "007", "١٢", "1_0")]
    [None, 12, -3.5, True, 'x', 1000.0, '007', '١٢', '1_0']
    """
    if not value:
        return None
    c = value[0]
    # ASCII only: '²'.isdigit() is true and int('١٢') is 12, but such cells are text; so are
    # '1_000' and '2 ', which float() would accept and change.
    if c in "0123456789-+." and value.isascii() and "_" not in value and not value[-1].isspace():
        if value.isdigit():
            # Leading zeros mean a code (zip, phone), not a number.
            if len(value) > 1 and c == "0":
                return value
            return int(value)
        try:
            if value[1:].isdigit() and c in "-+":
                return int(value)
            f = float(value)
        except ValueError:
            return value
        if f != f or f in (float("inf"), float("-inf")):
            return value
        return f
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    return value


# Whole-batch patterns over "\0cell\0\0cell\0…" (see text_counts); at most 300 digits
# before the point so that every match is a finite float.
_ALL_INTS = re.compile(r"(?:\x00(?:[-+]?[0-9]{1,300})?\x00)*\Z")
_ALL_NUMS = re.compile(r"(?:\x00(?:[-+]?(?:[0-9]{1,300}(?:\.[0-9]*)?|\.[0-9]+))?\x00)*\Z")
_ZERO_LED = re.compile(r"\x000[0-9]+\x00")  # 007: a code, not a number
#: A cell that may be a number or a boolean (one pass over the batch).
_NOT_PLAIN_TEXT = re.compile(r"\x00(?:[-+.0-9]|(?i:true|false)\x00)")


def text_counts(vals: Sequence[str]) -> list[int]:
    """Counts by type code of ``[infer_text(v) for v in vals]``, mostly without typing each.

    >>> text_counts(["1", "", "007", "-2"]) == [1, 0, 2, 0, 1, 0, 0]
    True
    >>> text_counts(["1.5", "2", "x", "TRUE"]) == [0, 1, 1, 1, 1, 0, 0]
    True
    """
    counts = [0] * 7
    if not vals:
        return counts
    nulls = sum(1 for v in vals if not v) if not isinstance(vals, (list, tuple)) else vals.count("")
    joined = "\x00" + "\x00\x00".join(vals) + "\x00"
    filled = len(vals) - nulls
    counts[NULL] = nulls
    if joined.isascii():
        if "".join(vals).isdigit():  # unsigned integers and empty cells: no regex needed
            codes = joined.count("\x000") - joined.count("\x000\x00")  # 007, not 0
            counts[TEXT] = codes
            counts[INTEGER] = filled - codes
            return counts
        if _ALL_INTS.match(joined):
            codes = sum(1 for _ in _ZERO_LED.finditer(joined))
            counts[TEXT] = codes
            counts[INTEGER] = filled - codes
            return counts
        if _ALL_NUMS.match(joined):
            reals = joined.count(".")
            codes = sum(1 for _ in _ZERO_LED.finditer(joined))
            counts[REAL] = reals
            counts[TEXT] = codes
            counts[INTEGER] = filled - reals - codes
            return counts
        if not _NOT_PLAIN_TEXT.search(joined):
            counts[TEXT] = filled
            return counts
    counts[NULL] = 0
    for v, c in Counter(vals).items():
        counts[_CODE.get(type(infer_text(v)), TEXT)] += c
    return counts

"""``TimeSeriesDatabase``: points, exact rollups and exact retention on the unified database.

A user subclasses it (adding ``SCHEMA_VERSION`` and ``get_schema()`` for their own tables,
or not) and writes points per series::

    with TimeSeriesDatabase("data/unified.db") as db:
        db.add_rollup(timedelta(hours=1))
        db.write("cpu", [(datetime(2024, 5, 1, 12, 0), 0.5), (1714564860, 0.7)])
        db.aggregate("cpu", start, end, bucket=timedelta(days=1))

Storage. Points are ``dbfold_ts_points(series_id, ts, value)`` with ``PRIMARY KEY
(series_id, ts) WITHOUT ROWID``: one B-tree ordered by series then time, so a series'
range is one contiguous scan and a point's key is its row. ``ts`` is an integer count of
**microseconds** since the epoch (UTC): that is exactly the resolution of ``datetime``, so
every datetime written comes back equal, integer arithmetic aligns buckets exactly (no
float rounding at bucket edges), and 64 bits reach past the year 290,000. Seconds would
save about three bytes a row but round sub-second points together, silently replacing one
with another.

Rollups. ``dbfold_ts_rollups(width, series_id, bucket, count, sum, min, max)`` holds, for
every rollup width, the aggregate of each bucket. Every write and delete recomputes the
buckets it touched from the raw points, in the same transaction: so a rollup equals the
raw ``GROUP BY`` for every bucket, whatever the order, lateness, replacement or deletion
of points (a deleted minimum is recomputed, not guessed). Coarser answers combine rollup
rows through their sums and counts; averages are never averaged.

Retention. ``enforce_retention`` deletes raw points strictly older than ``now - raw``
(a point exactly at the boundary stays) and rollup buckets whose end is at or before
``now - keep``. Rollups outlive raw points: before deleting, the part of a bucket that
straddles the raw boundary is saved in ``dbfold_ts_trimmed``, so a later write into that
bucket still recomputes it exactly. Writes older than the last raw boundary are refused
(they would fall outside the window at once, and their bucket has no raw points left).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from dbfold.errors import DbfoldError, RuntimeDatabaseError
from dbfold.runtime import UnifiedDatabase

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_AGGS = ("avg", "min", "max", "count", "sum")
#: At most this many values bound in one statement (well below SQLite's 32,766).
_CHUNK = 500
_first = itemgetter(0)
_second = itemgetter(1)

TIMESERIES_DDL = """
CREATE TABLE IF NOT EXISTS dbfold_ts_series (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tags TEXT
);
CREATE TABLE IF NOT EXISTS dbfold_ts_points (
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dbfold_ts_rollups (
    width INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (width, series_id, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dbfold_ts_trimmed (
    width INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (width, series_id, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dbfold_ts_rollup_defs (
    width INTEGER PRIMARY KEY,
    keep INTEGER,
    horizon INTEGER
);
CREATE TABLE IF NOT EXISTS dbfold_ts_settings (
    key TEXT PRIMARY KEY,
    value INTEGER
);
INSERT OR IGNORE INTO dbfold_ts_settings (key, value) VALUES ('schema', 1);
"""

_OBJECTS = (
    "dbfold_ts_series",
    "dbfold_ts_points",
    "dbfold_ts_rollups",
    "dbfold_ts_trimmed",
    "dbfold_ts_rollup_defs",
    "dbfold_ts_settings",
)

_UPSERT = (
    "INSERT INTO dbfold_ts_points (series_id, ts, value) VALUES (?, ?, ?) "
    "ON CONFLICT (series_id, ts) DO UPDATE SET value = excluded.value"
)

# ``ts - ((ts % w) + w) % w`` is floor alignment: SQLite's % truncates toward zero, which
# would put points before 1970 in the wrong bucket.
_RAW_BUCKETS = (
    "SELECT ts - ((ts % :w) + :w) % :w AS b, count(*) AS c, sum(value) AS s, "
    "min(value) AS mn, max(value) AS mx FROM dbfold_ts_points "
    "WHERE series_id = :sid AND ts >= :lo AND ts < :hi GROUP BY b"
)
# One bucket per parameter set: a plain aggregate over one range scan, where a GROUP BY
# over several buckets would sort the rows first (SQLite cannot know the buckets follow ts).
_RECOMPUTE = (
    "INSERT OR REPLACE INTO dbfold_ts_rollups (width, series_id, bucket, count, sum, min, max) "
    "SELECT :w, :sid, :lo, count(*), sum(value), min(value), max(value) FROM dbfold_ts_points "
    "WHERE series_id = :sid AND ts >= :lo AND ts < :hi HAVING count(*) > 0"
)
# The same, adding what retention already took from a bucket straddling the raw boundary.
_RECOMPUTE_TRIMMED = (
    "INSERT OR REPLACE INTO dbfold_ts_rollups (width, series_id, bucket, count, sum, min, max) "
    f"SELECT :w, :sid, b, sum(c), sum(s), min(mn), max(mx) FROM ({_RAW_BUCKETS} UNION ALL "
    "SELECT bucket, count, sum, min, max FROM dbfold_ts_trimmed WHERE width = :w "
    "AND series_id = :sid AND bucket >= :lo AND bucket < :hi) GROUP BY b"
)


class TimeSeriesError(DbfoldError):
    """A time-series call was given bad input (a timestamp, a bucket, an aggregate name)."""


class Point(NamedTuple):
    """One stored point: ``ts`` is an aware UTC datetime."""

    ts: datetime
    value: float


@dataclass(slots=True)
class Bucket:
    """One aggregation bucket ``[start, start + bucket)``; aggregates not asked for are None.

    Not frozen: a frozen dataclass costs a microsecond more per bucket, which is a third
    of a one-week hourly query answered from a rollup.
    """

    start: datetime
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None
    sum: float | None = None


@dataclass(frozen=True)
class RetentionReport:
    """What :meth:`TimeSeriesDatabase.enforce_retention` deleted.

    Attributes:
        raw_cutoff: Raw points before this moment were deleted (None: no raw retention).
        raw_deleted: How many raw points were deleted.
        rollups_deleted: Per rollup width, how many buckets were deleted.
    """

    raw_cutoff: datetime | None
    raw_deleted: int
    rollups_deleted: dict[timedelta, int] = field(default_factory=dict)


def to_micros(moment: datetime | float) -> int:
    """Microseconds since the epoch of a datetime (naive means UTC) or of epoch seconds.

    >>> to_micros(datetime(1970, 1, 1, 0, 0, 1)), to_micros(1.5)
    (1000000, 1500000)
    """
    kind = type(moment)
    if kind is int:
        return int(moment) * 1_000_000  # type: ignore[arg-type]
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return (moment - _EPOCH) // _US
    if kind is float or (isinstance(moment, (int, float)) and not isinstance(moment, bool)):
        if not math.isfinite(moment):
            raise TimeSeriesError(f"timestamp {moment!r} is not finite; pass a real moment")
        return round(moment * 1_000_000)
    raise TimeSeriesError(
        f"timestamp {moment!r} is a {type(moment).__name__}; pass a datetime or epoch seconds"
    )


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of a stored timestamp."""
    return _EPOCH + timedelta(microseconds=micros)


def _width(bucket: timedelta, what: str = "bucket") -> int:
    if not isinstance(bucket, timedelta):
        raise TimeSeriesError(f"{what} {bucket!r} is not a timedelta; pass e.g. timedelta(hours=1)")
    micros = bucket // _US
    if micros <= 0:
        raise TimeSeriesError(f"{what} {bucket} is not positive; pass a positive timedelta")
    return micros


class TimeSeriesDatabase(UnifiedDatabase):
    """A unified database with time series: points, exact rollups and exact retention.

    Takes the same arguments as :class:`~dbfold.runtime.UnifiedDatabase`. Subclass it and
    add ``SCHEMA_VERSION`` and ``get_schema()`` for your own tables; the pattern's tables
    are built-in ``dbfold_ts_*`` tables the reconciler leaves alone.

    Raises:
        RuntimeDatabaseError: On PostgreSQL, which this pattern does not support yet.
    """

    def __init__(self, target: str | Path | None = None, **options: Any) -> None:
        super().__init__(target, **options)
        try:
            self._install_timeseries()
        except BaseException:
            self.close()
            raise

    def _install_timeseries(self) -> None:
        if self._pg:
            raise RuntimeDatabaseError(
                f"{self.location}: TimeSeriesDatabase runs on SQLite only for now; "
                "use a SQLite target"
            )
        marks = ", ".join("?" * len(_OBJECTS))
        found = self.scalar(f"SELECT count(*) FROM sqlite_master WHERE name IN ({marks})", _OBJECTS)
        if found != len(_OBJECTS):
            # Idempotent statements in one BEGIN IMMEDIATE: processes opening a new database
            # at once all succeed.
            self.executescript(TIMESERIES_DDL)

    # -- series -----------------------------------------------------------------------------

    def _lookup(self, names: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        todo = list(names)
        for i in range(0, len(todo), _CHUNK):
            part = todo[i : i + _CHUNK]
            marks = ", ".join("?" * len(part))
            for sid, name in self.query(
                f"SELECT id, name FROM dbfold_ts_series WHERE name IN ({marks})", part
            ):
                found[name] = sid
        return found

    def _series_ids(self, names: set[Any]) -> dict[str, int]:
        """Ids of the named series, creating missing ones (call inside the transaction).

        Looked up for every batch rather than cached: a cached id of a series created in a
        transaction that was later rolled back would point at nothing, or at another series.
        """
        for name in names:
            if not isinstance(name, str) or not name:
                raise TimeSeriesError(f"series name {name!r} is not a non-empty string")
        ids = self._lookup(names)
        missing = [name for name in names if name not in ids]
        if missing:
            self.executemany(
                "INSERT INTO dbfold_ts_series (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                [(name,) for name in missing],
            )
            ids.update(self._lookup(missing))
        return ids

    def _known_ids(self, series: str | Sequence[str]) -> list[int]:
        names = [series] if isinstance(series, str) else list(series)
        ids = self._lookup(set(names))
        return sorted({ids[name] for name in names if name in ids})

    def series(self) -> list[str]:
        """The names of every series ever written, sorted."""
        return [row[0] for row in self.query("SELECT name FROM dbfold_ts_series ORDER BY name")]

    def tags(self, series: str) -> dict[str, Any] | None:
        """The tags last written with a series (None when none were given)."""
        text = self.scalar("SELECT tags FROM dbfold_ts_series WHERE name = ?", (series,))
        return None if text is None else dict(json.loads(text))

    # -- settings ---------------------------------------------------------------------------

    def _setting(self, key: str) -> int | None:
        value = self.scalar("SELECT value FROM dbfold_ts_settings WHERE key = ?", (key,))
        return None if value is None else int(value)

    def _widths(self) -> list[int]:
        return [int(r[0]) for r in self.query("SELECT width FROM dbfold_ts_rollup_defs")]

    def rollups(self) -> dict[timedelta, timedelta | None]:
        """Every rollup width with how long its buckets are kept (None: forever)."""
        return {
            timedelta(microseconds=w): None if keep is None else timedelta(microseconds=keep)
            for w, keep in self.query(
                "SELECT width, keep FROM dbfold_ts_rollup_defs ORDER BY width"
            )
        }

    # -- writing ----------------------------------------------------------------------------

    def write(
        self,
        series: str,
        points: Iterable[tuple[datetime | float, float]],
        *,
        tags: Mapping[str, Any] | None = None,
    ) -> int:
        """Write points ``(ts, value)`` to one series, atomically; returns how many.

        ``ts`` is a datetime (naive means UTC) or epoch seconds. A point at an existing
        ``(series, ts)`` replaces it; so does a later point of the same batch.

        Args:
            series: The series' name (created on first write).
            points: ``(ts, value)`` pairs.
            tags: Stored with the series, replacing earlier tags.

        Raises:
            TimeSeriesError: A bad timestamp or series name, or a point older than the raw
                retention boundary already enforced.
        """
        try:
            rows = [(series, ts, value) for ts, value in points]
        except (TypeError, ValueError) as exc:
            raise TimeSeriesError(f"points of {series!r} must be (ts, value) pairs: {exc}") from exc
        with self.transaction():
            count = self.write_many(rows)
            if tags is not None:
                self._series_ids({series})  # a call with tags and no points still names it
                self.execute(
                    "UPDATE dbfold_ts_series SET tags = ? WHERE name = ?",
                    (json.dumps(dict(tags), sort_keys=True, default=str), series),
                )
        return count

    def write_many(self, rows: Iterable[tuple[str, datetime | float, float]]) -> int:
        """Write ``(series, ts, value)`` rows, atomically; returns how many rows.

        The rollups of every bucket touched are recomputed in the same transaction.

        >>> import tempfile, os
        >>> with TimeSeriesDatabase(os.path.join(tempfile.mkdtemp(), "t.db")) as db:
        ...     db.write_many([("a", 0, 1.0), ("b", 60, 2.0), ("a", 0, 3.0)])
        ...     db.last("a").value
        3
        3.0

        Raises:
            TimeSeriesError: As :meth:`write`.
        """
        batch = rows if isinstance(rows, list) else list(rows)
        if not batch:
            return 0
        try:
            names = set(map(_first, batch))
        except (TypeError, IndexError) as exc:
            raise TimeSeriesError(f"rows must be (series, ts, value) triples: {exc}") from exc
        with self.transaction():
            ids = self._series_ids(names)
            try:
                points = [
                    (ids[name], ts * 1_000_000 if type(ts) is int else to_micros(ts), value)
                    for name, ts, value in batch
                ]
            except (TypeError, ValueError) as exc:
                raise TimeSeriesError(f"rows must be (series, ts, value) triples: {exc}") from exc
            # Stable, so a later point of the same (series, ts) still wins. In key order each
            # insert lands beside the previous one in the B-tree, instead of on another
            # series' page: that saves more than the sort costs once the series' pages
            # outgrow the page cache.
            points.sort(key=_first)
            stamps = list(map(_second, points))
            oldest, newest = min(stamps), max(stamps)
            horizon = self._setting("raw_horizon")
            if horizon is not None and oldest < horizon:
                raise TimeSeriesError(
                    f"{self.location}: a point at {from_micros(oldest).isoformat()} is older "
                    f"than the raw retention boundary {from_micros(horizon).isoformat()}; "
                    "nothing was written"
                )
            self._many(_UPSERT, points)
            widths = self._widths()
            if widths:
                sids = sorted(set(map(_first, points)))
                self._upkeep(points, stamps, sids, oldest, newest, widths, horizon)
        return len(batch)

    def _many(self, sql: str, params: Sequence[Any]) -> None:
        """``executemany`` on this transaction's connection (call inside ``transaction()``).

        The base class's ``executemany`` re-encodes every row for JSON; these rows hold
        numbers only, and on a large batch that check costs as much as the insert.
        """
        try:
            self.connection().executemany(sql, params)
        except self._backend.errors as exc:
            raise self._backend.wrap(exc, "write time-series points") from exc

    def _upkeep(
        self,
        points: Sequence[tuple[int, int, Any]],
        stamps: Sequence[int],
        sids: Sequence[int],
        oldest: int,
        newest: int,
        widths: Sequence[int],
        horizon: int | None,
    ) -> None:
        """Recompute from raw points every rollup bucket the written points fall in."""
        for width in widths:
            first, last = oldest // width, newest // width
            if (last - first + 1) * len(sids) <= 2 * len(points) + len(sids):
                # The usual batch, dense in time: one run per series over the batch's span
                # (a bucket of a series the batch did not touch is recomputed unchanged).
                keys: Iterable[tuple[int, int]] = (
                    (sid, index) for sid in sids for index in range(first, last + 1)
                )
            else:
                # Scattered late points: only the buckets they fall in.
                keys = {(sid, ts // width) for sid, ts, _ in points}
            self._recompute_keys(keys, width, horizon)

    def _recompute_keys(
        self, keys: Iterable[tuple[int, int]], width: int, horizon: int | None
    ) -> None:
        """Recompute the rollup buckets ``(series_id, bucket index)`` from raw points."""
        # Only the bucket straddling the raw retention boundary has a retained part to add.
        straddling = None if horizon is None else horizon // width
        plain: list[dict[str, int]] = []
        trimmed: list[dict[str, int]] = []
        for sid, index in keys:
            params = {"w": width, "sid": sid, "lo": index * width, "hi": (index + 1) * width}
            (trimmed if index == straddling else plain).append(params)
        if plain:
            self._many(_RECOMPUTE, plain)
        if trimmed:
            self._many(_RECOMPUTE_TRIMMED, trimmed)

    def delete(
        self,
        name: str,
        where: Any,
        end: datetime | float | None = None,
        /,
    ) -> int:
        """Delete the points of series ``name`` in ``[where, end)``; returns how many.

        With two arguments this is the base class's ``delete(table, where)`` for the
        user's own tables, which every subclass keeps. See :meth:`delete_points`.
        """
        if end is None:
            return super().delete(name, where)
        return self.delete_points(name, where, end)

    def delete_points(self, series: str, start: datetime | float, end: datetime | float) -> int:
        """Delete the points of a series in ``[start, end)``; returns how many.

        The touched rollup buckets are recomputed from the raw points left (a deleted
        minimum or maximum is recomputed, not kept).
        """
        lo, hi = to_micros(start), to_micros(end)
        if hi <= lo:
            return 0
        with self.transaction():
            ids = self._known_ids(series)
            if not ids:
                return 0
            sid = ids[0]
            deleted = self.execute(
                "DELETE FROM dbfold_ts_points WHERE series_id = ? AND ts >= ? AND ts < ?",
                (sid, lo, hi),
            ).rowcount
            widths = self._widths()
            if deleted and widths:
                horizon = self._setting("raw_horizon")
                for width in widths:
                    first, last = lo // width, -((-hi) // width)  # floor, ceiling
                    if horizon is not None:
                        first = max(first, horizon // width)  # older buckets have no raw left
                    # The buckets may now be empty: drop them, then rebuild what is left.
                    self.execute(
                        "DELETE FROM dbfold_ts_rollups WHERE width = ? AND series_id = ? "
                        "AND bucket >= ? AND bucket < ?",
                        (width, sid, first * width, last * width),
                    )
                    # Only the two edge buckets can keep points; those between are gone whole.
                    edges = {(sid, i) for i in (first, last - 1) if first <= i < last}
                    self._recompute_keys(sorted(edges), width, horizon)
        return int(deleted)

    # -- reading ----------------------------------------------------------------------------

    def range(
        self,
        series: str,
        start: datetime | float,
        end: datetime | float,
        *,
        limit: int | None = None,
    ) -> list[Point]:
        """The points of a series in ``[start, end)``, oldest first (at most ``limit``)."""
        ids = self._known_ids(series)
        if not ids:
            return []
        rows = self.query(
            "SELECT ts, value FROM dbfold_ts_points WHERE series_id = ? AND ts >= ? AND ts < ? "
            "ORDER BY ts LIMIT ?",
            (ids[0], to_micros(start), to_micros(end), -1 if limit is None else limit),
        )
        return [Point(from_micros(ts), value) for ts, value in rows]

    def last(self, series: str) -> Point | None:
        """The newest point of a series, or None."""
        ids = self._known_ids(series)
        if not ids:
            return None
        row = self.query_one(
            "SELECT ts, value FROM dbfold_ts_points WHERE series_id = ? ORDER BY ts DESC LIMIT 1",
            (ids[0],),
        )
        return None if row is None else Point(from_micros(row[0]), row[1])

    def aggregate(
        self,
        series: str | Sequence[str],
        start: datetime | float,
        end: datetime | float,
        *,
        bucket: timedelta,
        aggs: Sequence[str] = _AGGS,
    ) -> list[Bucket]:
        """Aggregate points in ``[start, end)`` into epoch-aligned UTC buckets.

        Buckets are half-open ``[b, b + bucket)`` with ``b`` a multiple of ``bucket`` since
        the epoch; buckets without points are left out. With several series the points of
        all of them are aggregated together. When a rollup's width divides ``bucket``, its
        closed buckets (those ending at or before every series' newest point) are read from
        the rollup; the open bucket and partial edges of the range come from raw points.

        Args:
            series: One name or several.
            start: Inclusive start (datetime, naive means UTC, or epoch seconds).
            end: Exclusive end.
            bucket: The bucket width.
            aggs: Any of ``avg``, ``min``, ``max``, ``count``, ``sum``.

        Raises:
            TimeSeriesError: An unknown aggregate or a bucket that is not a positive timedelta.
        """
        width = _width(bucket)
        wanted = tuple(aggs)
        unknown = [a for a in wanted if a not in _AGGS]
        if unknown or not wanted:
            raise TimeSeriesError(
                f"aggregates {unknown or wanted!r} are not known; choose from {', '.join(_AGGS)}"
            )
        lo, hi = to_micros(start), to_micros(end)
        names = [series] if isinstance(series, str) else list(series)
        if hi <= lo or not names:
            return []
        # One statement for the ids and each series' newest point (one B-tree seek each).
        found = self.query(
            "SELECT id, (SELECT max(ts) FROM dbfold_ts_points WHERE series_id = id) "
            f"FROM dbfold_ts_series WHERE name IN ({', '.join('?' * len(set(names)))})",
            list(set(names)),
            decode_json=False,
        )
        ids = sorted(row[0] for row in found)
        if not ids:
            return []
        latest = [row[1] for row in found if row[1] is not None]
        newest = min(latest) if latest else None
        marks = ", ".join("?" * len(ids))
        usable = [
            (int(w), h)
            for w, h in self.query("SELECT width, horizon FROM dbfold_ts_rollup_defs")
            if width % int(w) == 0
        ]
        roll, roll_horizon = max(usable, default=(None, None))
        parts: list[tuple[str, list[Any]]] = []

        def raw(a: int, b: int) -> None:
            if a < b:
                parts.append(
                    (
                        "SELECT ts - ((ts % ?) + ?) % ? AS b, count(*) AS c, sum(value) AS s, "
                        "min(value) AS mn, max(value) AS mx FROM dbfold_ts_points "
                        f"WHERE series_id IN ({marks}) AND ts >= ? AND ts < ? GROUP BY b",
                        [width, width, width, *ids, a, b],
                    )
                )

        if roll is None:
            raw(lo, hi)
        else:
            # Closed buckets end at or before the newest point of every series asked for.
            first = -((-lo) // roll) * roll  # the first whole rollup bucket
            if roll_horizon is not None:
                # Buckets retention took from the rollup: whatever raw points are left.
                first = max(first, int(roll_horizon))
            closed = hi // roll * roll if newest is None else min(hi // roll, newest // roll) * roll
            if newest is None or first >= closed:
                raw(lo, hi)
            else:
                raw(lo, first)
                if roll == width and len(ids) == 1:
                    # The rollup's rows are the answer's rows: no grouping (and no sort).
                    parts.append(
                        (
                            "SELECT bucket AS b, count AS c, sum AS s, min AS mn, max AS mx "
                            "FROM dbfold_ts_rollups WHERE width = ? AND series_id = ? "
                            "AND bucket >= ? AND bucket < ?",
                            [roll, ids[0], first, closed],
                        )
                    )
                else:
                    parts.append(
                        (
                            "SELECT bucket - ((bucket % ?) + ?) % ? AS b, sum(count) AS c, "
                            "sum(sum) AS s, min(min) AS mn, max(max) AS mx "
                            f"FROM dbfold_ts_rollups WHERE width = ? AND series_id IN ({marks}) "
                            "AND bucket >= ? AND bucket < ? GROUP BY b",
                            [width, width, width, roll, *ids, first, closed],
                        )
                    )
                raw(closed, hi)
        # Plain tuples (the runtime's read primitive): Row objects would cost a third of
        # an hourly week answered from a rollup.
        rows: list[tuple[Any, ...]] = []
        if roll is None or roll == width:
            # The parts' buckets are disjoint and in order: concatenate, no merging sort.
            for sql, params in parts:
                rows += self._read(sql + " ORDER BY b", params)
        else:
            # A bucket may take rows from several parts (a raw edge and rollup buckets).
            sql = (
                "SELECT b, sum(c), sum(s), min(mn), max(mx) FROM ("
                + " UNION ALL ".join(part[0] for part in parts)
                + ") GROUP BY b ORDER BY b"
            )
            rows = self._read(sql, [value for part in parts for value in part[1]])
        want = [name in wanted for name in _AGGS]
        out: list[Bucket] = []
        append = out.append
        for b, count, total, low, high in rows:
            append(
                Bucket(
                    _EPOCH + timedelta(0, 0, b),
                    total / count if want[0] else None,
                    low if want[1] else None,
                    high if want[2] else None,
                    count if want[3] else None,
                    total if want[4] else None,
                )
            )
        return out

    # -- rollups and retention --------------------------------------------------------------

    def add_rollup(self, bucket: timedelta) -> None:
        """Keep a rollup of every series at this bucket width, built now from the raw points.

        Adding a width that exists does nothing. Buckets whose raw points retention has
        already deleted are built from the points left.
        """
        width = _width(bucket)
        with self.transaction():
            added = self.execute(
                "INSERT INTO dbfold_ts_rollup_defs (width) VALUES (?) "
                "ON CONFLICT (width) DO NOTHING",
                (width,),
            ).rowcount
            if added:
                self.execute(
                    "INSERT OR REPLACE INTO dbfold_ts_rollups "
                    "(width, series_id, bucket, count, sum, min, max) "
                    "SELECT :w, series_id, ts - ((ts % :w) + :w) % :w AS b, count(*), "
                    "sum(value), min(value), max(value) FROM dbfold_ts_points "
                    "GROUP BY series_id, b",
                    {"w": width},
                )

    def set_retention(
        self,
        *,
        raw: timedelta | None = None,
        rollups: Mapping[timedelta, timedelta | None] | None = None,
    ) -> None:
        """Set how long raw points and rollup buckets are kept (None: forever).

        Replaces the earlier settings. Nothing is deleted until :meth:`enforce_retention`.

        Args:
            raw: Keep raw points this long.
            rollups: Per rollup width (added with :meth:`add_rollup`), keep buckets this long.

        Raises:
            TimeSeriesError: An unknown rollup width, or a rollup kept shorter than raw
                points (aggregates would then read neither).
        """
        raw_keep = None if raw is None else _width(raw, "raw retention")
        widths = set(self._widths())
        keeps: dict[int, int | None] = dict.fromkeys(widths)
        for bucket, keep in (rollups or {}).items():
            width = _width(bucket)
            if width not in widths:
                raise TimeSeriesError(
                    f"no rollup of {bucket}; call add_rollup({bucket!r}) before its retention"
                )
            keeps[width] = None if keep is None else _width(keep, "rollup retention")
            kept = keeps[width]
            if raw_keep is not None and kept is not None and kept < raw_keep:
                raise TimeSeriesError(
                    f"the {bucket} rollup would be kept {keep}, shorter than raw points ({raw}); "
                    "keep rollups at least as long as raw points"
                )
        with self.transaction():
            self.execute(
                "INSERT OR REPLACE INTO dbfold_ts_settings (key, value) VALUES ('raw_keep', ?)",
                (raw_keep,),
            )
            self.executemany(
                "UPDATE dbfold_ts_rollup_defs SET keep = ? WHERE width = ?",
                [(keep, width) for width, keep in keeps.items()],
            )

    def enforce_retention(self, now: datetime | float | None = None) -> RetentionReport:
        """Delete what is older than the retention windows, exactly, in one transaction.

        A raw point is deleted when ``ts < now - raw``: one at the boundary stays. A rollup
        bucket is deleted when its end is at or before ``now - keep``. Raw retention never
        touches rollups: the part of a bucket that straddles the raw boundary is kept aside
        so later writes into it still recompute the bucket exactly.

        Args:
            now: The moment the windows end (default the current time).
        """
        now_us = to_micros(datetime.now(timezone.utc) if now is None else now)
        raw_cutoff: int | None = None
        raw_deleted = 0
        dropped: dict[timedelta, int] = {}
        with self.transaction():
            raw_keep = self._setting("raw_keep")
            defs = [
                (int(w), k) for w, k in self.query("SELECT width, keep FROM dbfold_ts_rollup_defs")
            ]
            if raw_keep is not None:
                raw_cutoff = now_us - raw_keep
                horizon = self._setting("raw_horizon")
                if horizon is None or raw_cutoff > horizon:
                    for width, _ in defs:
                        self._trim(width, raw_cutoff)
                    raw_deleted = self.execute(
                        "DELETE FROM dbfold_ts_points WHERE series_id IN "
                        "(SELECT id FROM dbfold_ts_series) AND ts < ?",
                        (raw_cutoff,),
                    ).rowcount
                    self.execute(
                        "INSERT OR REPLACE INTO dbfold_ts_settings (key, value) "
                        "VALUES ('raw_horizon', ?)",
                        (raw_cutoff,),
                    )
            for width, keep in defs:
                if keep is None:
                    continue
                # The first bucket kept is the one whose end is after the cutoff.
                kept_from = (now_us - int(keep)) // width * width
                dropped[timedelta(microseconds=width)] = self.execute(
                    "DELETE FROM dbfold_ts_rollups WHERE width = ? AND series_id IN "
                    "(SELECT id FROM dbfold_ts_series) AND bucket < ?",
                    (width, kept_from),
                ).rowcount
                self.execute(
                    "UPDATE dbfold_ts_rollup_defs SET horizon = max(coalesce(horizon, ?), ?) "
                    "WHERE width = ?",
                    (kept_from, kept_from, width),
                )
        return RetentionReport(
            None if raw_cutoff is None else from_micros(raw_cutoff), raw_deleted, dropped
        )

    def _trim(self, width: int, cutoff: int) -> None:
        """Before raw points older than ``cutoff`` go, keep the straddling bucket's part."""
        start = cutoff // width * width
        if start < cutoff:
            self.execute(
                "INSERT OR REPLACE INTO dbfold_ts_trimmed "
                "(width, series_id, bucket, count, sum, min, max) "
                "SELECT :w, sid, :b, sum(c), sum(s), min(mn), max(mx) FROM ("
                "SELECT p.series_id AS sid, count(*) AS c, sum(p.value) AS s, "
                "min(p.value) AS mn, max(p.value) AS mx FROM dbfold_ts_series x "
                "JOIN dbfold_ts_points p ON p.series_id = x.id AND p.ts >= :b AND p.ts < :cut "
                "GROUP BY p.series_id UNION ALL SELECT series_id, count, sum, min, max "
                "FROM dbfold_ts_trimmed WHERE width = :w AND bucket = :b) GROUP BY sid",
                {"w": width, "b": start, "cut": cutoff},
            )
        # Buckets wholly before the boundary get no more writes: their kept part can go.
        self.execute("DELETE FROM dbfold_ts_trimmed WHERE width = ? AND bucket < ?", (width, start))


__all__ = [
    "Bucket",
    "Point",
    "RetentionReport",
    "TimeSeriesDatabase",
    "TimeSeriesError",
    "from_micros",
    "to_micros",
]

"""TimeSeriesDatabase: writes, ranges, aggregates, exact rollups, exact retention (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfold.errors import DbfoldError
from dbfold.patterns.timeseries import (
    Bucket,
    Point,
    TimeSeriesDatabase,
    TimeSeriesError,
    from_micros,
    to_micros,
)

UTC = timezone.utc
T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday, 00:00 UTC
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TimeSeriesDatabase]:
    with TimeSeriesDatabase(tmp_path / "ts.db") as database:
        yield database


def raw_buckets(db: TimeSeriesDatabase, width: timedelta) -> dict[tuple[int, int], tuple]:
    """The raw GROUP BY the rollup of ``width`` must equal."""
    w = width // timedelta(microseconds=1)
    rows = db.query(
        "SELECT series_id, ts - ((ts % ?) + ?) % ? AS b, count(*), sum(value), min(value), "
        "max(value) FROM dbfold_ts_points GROUP BY series_id, b",
        (w, w, w),
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def rollup_rows(db: TimeSeriesDatabase, width: timedelta) -> dict[tuple[int, int], tuple]:
    w = width // timedelta(microseconds=1)
    rows = db.query(
        "SELECT series_id, bucket, count, sum, min, max FROM dbfold_ts_rollups WHERE width = ?",
        (w,),
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


# -- timestamps -------------------------------------------------------------------------------


def test_naive_datetimes_are_utc_and_epoch_seconds_agree(db: TimeSeriesDatabase) -> None:
    naive = datetime(2024, 5, 6, 12, 30)
    aware_other_zone = datetime(2024, 5, 6, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    db.write("a", [(naive, 1.0)])
    db.write("a", [(aware_other_zone, 2.0)])  # the same instant: replaces
    db.write("a", [(naive.replace(tzinfo=UTC).timestamp() + 60, 3.0)])
    points = db.range("a", T0, T0 + timedelta(days=1))
    assert points == [
        Point(datetime(2024, 5, 6, 12, 30, tzinfo=UTC), 2.0),
        Point(datetime(2024, 5, 6, 12, 31, tzinfo=UTC), 3.0),
    ]
    assert all(p.ts.tzinfo is UTC for p in points)


def test_microseconds_round_trip_and_bad_timestamps(db: TimeSeriesDatabase) -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert from_micros(to_micros(moment)) == moment
    db.write("a", [(moment, 1.0)])
    assert db.last("a") == Point(moment, 1.0)
    for bad in ("2024-01-01", None, float("nan"), True):
        with pytest.raises(TimeSeriesError):
            db.write("a", [(bad, 1.0)])  # type: ignore[list-item]
    assert issubclass(TimeSeriesError, DbfoldError)


# -- writes, ranges, last ---------------------------------------------------------------------


def test_write_replaces_and_range_is_half_open(db: TimeSeriesDatabase) -> None:
    assert db.write("a", [(T0 + i * MIN, float(i)) for i in range(10)], tags={"host": "x"}) == 10
    db.write("a", [(T0 + 3 * MIN, 30.0), (T0 + 3 * MIN, 33.0)])  # later in a batch wins
    got = db.range("a", T0 + 2 * MIN, T0 + 5 * MIN)
    assert [p.value for p in got] == [2.0, 33.0, 4.0]  # start in, end out
    assert db.range("a", T0, T0 + 10 * MIN, limit=2) == db.range("a", T0, T0 + 2 * MIN)
    assert db.last("a") == Point(T0 + 9 * MIN, 9.0)
    assert db.last("nothing") is None and db.range("nothing", T0, T0 + HOUR) == []
    assert db.tags("a") == {"host": "x"} and db.series() == ["a"]


def test_a_batch_is_atomic(db: TimeSeriesDatabase) -> None:
    db.add_rollup(HOUR)
    db.write_many([("a", T0, 1.0)])
    with pytest.raises(DbfoldError):
        db.write_many([("a", T0 + MIN, 2.0), ("b", T0, None)])  # type: ignore[list-item]
    assert [p.value for p in db.range("a", T0, T0 + HOUR)] == [1.0]
    assert db.series() == ["a"]  # the series created by the failed batch is gone too
    assert rollup_rows(db, HOUR) == raw_buckets(db, HOUR)


def test_delete_is_half_open_and_base_delete_still_works(tmp_path: Path) -> None:
    class Project(TimeSeriesDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"

    with Project(tmp_path / "p.db") as db:
        db.write("a", [(T0 + i * MIN, float(i)) for i in range(10)])
        assert db.delete("a", T0 + 2 * MIN, T0 + 5 * MIN) == 3
        assert [p.value for p in db.range("a", T0, T0 + HOUR)] == [0, 1, 5, 6, 7, 8, 9]
        note = db.insert("notes", body="x")
        assert db.delete("notes", note) == 1  # the base class's delete(table, where)


# -- aggregates and rollups -------------------------------------------------------------------


def test_buckets_are_epoch_aligned_half_open_utc(db: TimeSeriesDatabase) -> None:
    db.write("a", [(T0 + HOUR - MIN, 1.0), (T0 + HOUR, 2.0), (T0 + HOUR + 59 * MIN, 4.0)])
    got = db.aggregate("a", T0, T0 + 3 * HOUR, bucket=HOUR)
    assert got == [
        Bucket(T0, 1.0, 1.0, 1.0, 1, 1.0),
        Bucket(T0 + HOUR, 3.0, 2.0, 4.0, 2, 6.0),
    ]
    # A range starting mid-bucket: the bucket keeps its aligned start, only points inside.
    part = db.aggregate("a", T0 + HOUR + MIN, T0 + 3 * HOUR, bucket=HOUR, aggs=("count",))
    assert part == [Bucket(T0 + HOUR, count=1)]
    with pytest.raises(TimeSeriesError):
        db.aggregate("a", T0, T0 + HOUR, bucket=HOUR, aggs=("median",))
    with pytest.raises(TimeSeriesError):
        db.aggregate("a", T0, T0 + HOUR, bucket=timedelta(0))


def test_several_series_aggregate_together(db: TimeSeriesDatabase) -> None:
    db.add_rollup(HOUR)
    db.write("a", [(T0 + i * MIN, 1.0) for i in range(180)])
    db.write("b", [(T0 + i * MIN, 3.0) for i in range(180)])
    got = db.aggregate(["a", "b", "missing"], T0, T0 + 3 * HOUR, bucket=HOUR)
    assert [(b.count, b.avg, b.min, b.max) for b in got] == [(120, 2.0, 1.0, 3.0)] * 3


def test_rollup_is_used_and_coarser_answers_use_sums_and_counts(db: TimeSeriesDatabase) -> None:
    db.write("a", [(T0 + i * MIN, float(i % 7)) for i in range(6 * 60)])
    db.add_rollup(HOUR)  # built from the points already there
    # Make the rollup distinguishable from raw: if aggregate reads it, it sees the marker.
    db.execute(
        "UPDATE dbfold_ts_rollups SET count = count + 1000 WHERE bucket = ?", (to_micros(T0),)
    )
    day = db.aggregate("a", T0, T0 + timedelta(days=1), bucket=timedelta(days=1))
    assert day[0].count == 6 * 60 + 1000  # 1 h divides 1 day: read from the rollup
    odd = db.aggregate("a", T0, T0 + timedelta(days=1), bucket=timedelta(minutes=90))
    assert sum(b.count or 0 for b in odd) == 6 * 60  # 1 h does not divide 90 min: raw
    db.execute(
        "UPDATE dbfold_ts_rollups SET count = count - 1000 WHERE bucket = ?", (to_micros(T0),)
    )
    # Uneven hours: an average of hourly averages would differ from the true average.
    db.delete("a", T0, T0 + 50 * MIN)
    whole = db.aggregate("a", T0, T0 + 6 * HOUR, bucket=6 * HOUR)[0]
    values = [float(i % 7) for i in range(50, 6 * 60)]
    assert whole.count == len(values) and whole.avg == pytest.approx(sum(values) / len(values))


def test_open_bucket_is_answered_from_raw_points(db: TimeSeriesDatabase) -> None:
    db.add_rollup(HOUR)
    db.write("a", [(T0 + i * MIN, 1.0) for i in range(90)])  # newest at 01:29: 01:00 is open
    w = HOUR // timedelta(microseconds=1)
    db.execute("UPDATE dbfold_ts_rollups SET count = 999 WHERE width = ?", (w,))
    got = db.aggregate("a", T0, T0 + 2 * HOUR, bucket=HOUR, aggs=("count",))
    assert [b.count for b in got] == [999, 30]  # closed from the rollup, open from raw


def test_rollups_stay_equal_after_late_replaced_and_deleted_points(
    db: TimeSeriesDatabase,
) -> None:
    db.add_rollup(HOUR)
    db.add_rollup(timedelta(days=1))
    db.add_rollup(timedelta(minutes=7))  # does not divide the others
    db.write("a", [(T0 + i * MIN, float(i)) for i in range(300)])
    db.write("a", [(T0 + 5 * MIN, -50.0)])  # late and a new minimum
    db.write("a", [(T0 + 10 * MIN, 10_000.0), (T0 - timedelta(days=3), 7.0)])  # replace; late
    db.delete("a", T0 + 5 * MIN, T0 + 11 * MIN)  # the minimum and maximum go
    db.write_many([("b", T0 + i * timedelta(seconds=13), 1.5) for i in range(50)])
    for width in (HOUR, timedelta(days=1), timedelta(minutes=7)):
        assert rollup_rows(db, width) == raw_buckets(db, width)
    first = db.aggregate("a", T0, T0 + HOUR, bucket=HOUR)[0]
    assert (first.min, first.max, first.count) == (0.0, 59.0, 54)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("write"),
                st.lists(
                    st.tuples(
                        st.sampled_from(["a", "b", "c"]),
                        st.integers(-200, 400),  # minutes around T0: late, out of order
                        st.integers(-50, 50),  # small integers: sums are exact in any order
                    ),
                    min_size=1,
                    max_size=30,
                ),
            ),
            st.tuples(
                st.just("delete"),
                st.sampled_from(["a", "b", "c"]),
                st.integers(-200, 400),
                st.integers(0, 150),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_property_rollups_equal_raw_group_by(tmp_path_factory: pytest.TempPathFactory, ops) -> None:
    path = tmp_path_factory.mktemp("prop") / "ts.db"
    widths = (timedelta(minutes=10), HOUR, timedelta(minutes=25))
    with TimeSeriesDatabase(path) as db:
        for width in widths:
            db.add_rollup(width)
        for op in ops:
            if op[0] == "write":
                db.write_many([(s, T0 + m * MIN, float(v)) for s, m, v in op[1]])
            else:
                _, s, m, length = op
                db.delete(s, T0 + m * MIN, T0 + (m + length) * MIN)
        for width in widths:
            assert rollup_rows(db, width) == raw_buckets(db, width)
        # And aggregate (rollup + raw edges) equals the plain raw answer.
        for s in ("a", "b", "c"):
            start, end = T0 - 210 * MIN + timedelta(seconds=17), T0 + 410 * MIN
            got = db.aggregate(s, start, end, bucket=2 * HOUR)
            want = [
                (b, *agg) for b, agg in sorted(_raw_aggregate(db, s, start, end, 2 * HOUR).items())
            ]
            assert [(b.start, b.count, b.sum, b.min, b.max) for b in got] == want


def _raw_aggregate(db, series, start, end, width):
    points = db.range(series, start, end)
    out: dict = {}
    w = width // timedelta(microseconds=1)
    for p in points:
        b = from_micros(to_micros(p.ts) // w * w)
        c, s, lo, hi = out.get(b, (0, 0.0, p.value, p.value))
        out[b] = (c + 1, s + p.value, min(lo, p.value), max(hi, p.value))
    return out


# -- retention --------------------------------------------------------------------------------


def test_retention_is_exact_at_the_boundary(db: TimeSeriesDatabase) -> None:
    db.write("a", [(T0 + i * timedelta(seconds=1), 1.0) for i in range(-3, 4)])
    db.write("b", [(T0 - timedelta(microseconds=1), 2.0), (T0, 3.0)])
    db.set_retention(raw=timedelta(days=1))
    report = db.enforce_retention(T0 + timedelta(days=1))  # boundary exactly at T0
    assert report.raw_cutoff == T0 and report.raw_deleted == 4
    assert [p.ts for p in db.range("a", T0 - HOUR, T0 + HOUR)] == [
        T0 + i * timedelta(seconds=1) for i in range(4)
    ]
    assert db.range("b", T0 - HOUR, T0 + HOUR) == [Point(T0, 3.0)]
    with pytest.raises(TimeSeriesError, match="older than the raw retention"):
        db.write("a", [(T0 - timedelta(microseconds=1), 1.0)])
    db.write("a", [(T0, 5.0)])  # at the boundary: still inside the window


def test_raw_retention_keeps_longer_rollups_exact(db: TimeSeriesDatabase) -> None:
    db.add_rollup(HOUR)
    db.write("a", [(T0 + i * MIN, float(i)) for i in range(240)])
    before = rollup_rows(db, HOUR)
    db.set_retention(raw=timedelta(days=1), rollups={HOUR: timedelta(days=30)})
    # The boundary falls at 01:30: the 01:00 bucket straddles it.
    db.enforce_retention(T0 + timedelta(days=1, minutes=90))
    assert db.range("a", T0, T0 + 90 * MIN) == []
    assert rollup_rows(db, HOUR) == before  # raw retention never deletes rollups
    # A late point and a delete in the straddling bucket still leave it exact.
    db.write("a", [(T0 + 95 * MIN, 1000.0)])
    db.delete("a", T0 + 100 * MIN, T0 + 105 * MIN)
    values = [float(i) for i in range(60, 120) if not 100 <= i < 105 and i != 95] + [1000.0]
    got = db.aggregate("a", T0 + HOUR, T0 + 2 * HOUR, bucket=HOUR)
    assert got == [
        Bucket(T0 + HOUR, sum(values) / len(values), 60.0, 1000.0, len(values), sum(values))
    ]
    # The whole range still aggregates from rollups where raw points are gone.
    assert sum(b.count or 0 for b in db.aggregate("a", T0, T0 + 4 * HOUR, bucket=HOUR)) == 235


def test_rollup_retention_deletes_buckets_ending_at_or_before_cutoff(
    db: TimeSeriesDatabase,
) -> None:
    db.add_rollup(HOUR)
    db.write("a", [(T0 + i * MIN, 1.0) for i in range(300)])
    db.set_retention(rollups={HOUR: timedelta(days=1)})
    report = db.enforce_retention(T0 + timedelta(days=1, hours=2))  # cutoff 02:00
    assert report.rollups_deleted == {HOUR: 2}  # 00:00 and 01:00 end at or before it
    assert sorted(b for _, b in rollup_rows(db, HOUR)) == [
        to_micros(T0 + h * HOUR) for h in range(2, 5)
    ]
    # Raw points are still there, so aggregate answers the dropped buckets from them.
    assert [b.count for b in db.aggregate("a", T0, T0 + 5 * HOUR, bucket=HOUR)] == [60] * 5
    with pytest.raises(TimeSeriesError):
        db.set_retention(raw=timedelta(days=2), rollups={HOUR: timedelta(days=1)})
    with pytest.raises(TimeSeriesError):
        db.set_retention(rollups={timedelta(minutes=5): timedelta(days=1)})

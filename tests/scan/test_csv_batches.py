"""CSV rows read a batch at a time give what reading them one by one gives."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfold.scan import csv_reader
from dbfold.scan.csv_reader import read_csv

CELLS = st.sampled_from(["1", "2.5", "", "x", "a,b", 'say "hi"', "two\nlines", "cr\r\nlf", "007"])
ROWS = st.lists(
    st.one_of(
        st.lists(CELLS, min_size=3, max_size=3),  # the usual width
        st.lists(CELLS, min_size=1, max_size=5),  # ragged
        st.just([]),  # a blank line
    ),
    max_size=40,
)


def _reference(text: str, header: bool) -> tuple[int, list[int], int]:
    """Rows, first ragged line numbers and ragged count, reading row by row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    width = None
    if header:
        width = len(next(reader))
    rows, ragged, count = 0, [], 0
    for row in reader:
        if not row:
            continue
        rows += 1
        if width is None:
            width = len(row)
        if len(row) != width:
            count += 1
            if len(ragged) < csv_reader.MAX_RAGGED_LINES:
                ragged.append(reader.line_num)
            width = max(width, len(row))
    return rows, ragged, count


@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, terminator=st.sampled_from(["\n", "\r\n"]), batch=st.sampled_from([1, 3, 64]))
def test_batches_count_rows_and_ragged_lines_as_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: list[list[str]], terminator: str,
    batch: int,
) -> None:  # fmt: skip
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=terminator)
    writer.writerow(["name", "qty", "price"])
    writer.writerows(rows)
    text = buf.getvalue()
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode())
    size = path.stat().st_size
    monkeypatch.setattr(csv_reader, "BATCH", batch)
    batched = read_csv(path, "t.csv", size)
    monkeypatch.setattr(csv_reader, "BATCH", 1)
    assert batched == read_csv(path, "t.csv", size)  # the batch size changes nothing
    # A tiny sample may not show a header (no numeric column): count as the reader decided.
    header = not any(c.name == "col_1" for t in batched.tables for c in t.columns)
    want_rows, want_lines, want_count = _reference(text, header)
    assert batched.rows == want_rows
    ragged = [p for p in batched.problems if "different number of fields" in p.message]
    if not want_count:
        assert not ragged
        return
    (problem,) = ragged
    assert f"{want_count} rows have" in problem.message
    found = re.search(r"\(lines ([\d, ]+)", problem.message)
    assert found is not None
    assert [int(n) for n in found.group(1).split(", ")] == want_lines


def test_rows_before_a_csv_error_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.csv"
    huge = "x" * (csv.field_size_limit() + 10)  # the csv module refuses a field this long
    path.write_text("a,b\n" + "1,2\n" * 10 + f'3,"{huge}"\n' + "4,5\n")
    monkeypatch.setattr(csv_reader, "BATCH", 64)
    store = read_csv(path, "e.csv", path.stat().st_size)
    assert store.rows == 10
    (problem,) = store.problems
    assert "CSV error at line 12" in problem.message and problem.line == 12

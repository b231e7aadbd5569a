"""analyze finds damage that SQLite's own quick_check sees, one clear problem per store.

The damaged files are made here, modelled on the classes of the public SQLite corruption
corpora: b-tree pages referenced twice, a broken freelist, a broken overflow chain, garbage
in a page, a wrong page count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from dbfold.design import design
from dbfold.scan import analyze
from dbfold.scan.stores import scan_stores

PAGE = 4096


def _build(path: Path, sql: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as con:
        con.execute(f"PRAGMA page_size={PAGE}")
        con.executescript(sql)
        con.commit()


def _root_page(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as con:
        (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        return int(root[0])


def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


_ROWS = (
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000)"
    " INSERT INTO t SELECT i, printf('%0100d', i) FROM c;"
)


def page_referenced_twice(path: Path) -> None:
    _build(path, _ROWS)
    base = (_root_page(path, "t") - 1) * PAGE
    raw = path.read_bytes()
    assert raw[base] == 0x05  # an interior table page
    first = int.from_bytes(raw[base + 12 : base + 14], "big")
    second = int.from_bytes(raw[base + 14 : base + 16], "big")
    # The second cell's left child now names the first cell's child: one page, two parents.
    _patch(path, base + second, raw[base + first : base + first + 4])


def broken_freelist(path: Path) -> None:
    _build(path, _ROWS + "DELETE FROM t WHERE id > 1000;")
    with closing(sqlite3.connect(path)) as con:
        assert con.execute("PRAGMA freelist_count").fetchone()[0] > 0
    _patch(path, 32, (10_000_000).to_bytes(4, "big"))  # first freelist trunk page


def broken_overflow_chain(path: Path) -> None:
    _build(path, "CREATE TABLE big(v BLOB); INSERT INTO big VALUES (zeroblob(40000));")
    with closing(sqlite3.connect(path)) as con:
        pages = con.execute("PRAGMA page_count").fetchone()[0]
    # The last page is the end of the overflow chain; make the one before point far away.
    _patch(path, (pages - 2) * PAGE, (9_999).to_bytes(4, "big"))


def garbage_in_a_leaf(path: Path) -> None:
    _build(path, _ROWS)
    with closing(sqlite3.connect(path)) as con:
        pages = con.execute("PRAGMA page_count").fetchone()[0]
    _patch(path, (pages - 3) * PAGE, b"\x0d" + b"\xff" * 64)


@pytest.mark.parametrize(
    "damage",
    [page_referenced_twice, broken_freelist, broken_overflow_chain, garbage_in_a_leaf],
    ids=lambda f: f.__name__,
)
def test_damage_is_a_problem_of_the_store(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    root = tmp_path / "p"
    damage(root / "my data.db")
    (store,) = scan_stores(root).stores
    errors = [p for p in store.problems if p.severity == "error"]
    assert len(errors) == 1, store.problems
    message = errors[0].message
    assert message.startswith("my data.db: ") and "\n" not in message
    assert "quick_check" in message or "malformed" in message
    assert ".recover" in message or "backup" in message


def test_a_sound_database_has_no_damage_problem(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _build(root / "fine.db", _ROWS)
    (store,) = scan_stores(root).stores
    assert store.problems == ()
    assert store.tables[0].rows == 3000


def test_a_table_that_cannot_be_read_is_excluded_with_the_damage(tmp_path: Path) -> None:
    root = tmp_path / "p"
    garbage_in_a_leaf(root / "bad.db")
    plan = design(analyze(root))
    (excluded,) = [e for e in plan.excluded if e.store == "bad.db"]
    assert "damaged" in excluded.reason and ".recover" in excluded.reason

"""The runtime on a full disk: a clear error, committed rows intact, nothing half-written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from _runtime_workers import ItemsV1

from dbfold.errors import RuntimeDatabaseError


def test_writes_into_a_full_disk(small_disk: Path) -> None:
    path = small_disk / "unified.db"
    committed = 0
    with ItemsV1(path) as db:
        with pytest.raises(RuntimeDatabaseError) as err:
            for i in range(10_000):  # ~10 MB of rows: far more than the disk holds
                db.insert("items", name=f"item {i}", data={"blob": "x" * 1000})
                committed += 1
        assert "full" in str(err.value) and str(path) in str(err.value)
        assert "\n" not in str(err.value)
        assert committed > 0
    # Every insert that returned is there, the failed one is not, and the file is sound.
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        assert con.execute("SELECT count(*) FROM items").fetchone() == (committed,)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        con.close()
    with ItemsV1(path) as db:  # opens again after the failure
        assert db.scalar("SELECT count(*) FROM items") == committed

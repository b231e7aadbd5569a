"""The guided tour used by ``dbfold demo``."""

from __future__ import annotations

from pathlib import Path

from dbfold.runtime.tour import TourResult, tour


def test_tour(tmp_path: Path) -> None:
    result = tour(tmp_path / "demo", threads=3, per_thread=40)
    assert isinstance(result, TourResult)
    assert result.operations == 120
    assert sum(s.count for s in result.stats.values()) == 120
    assert all(s.completed == s.count for s in result.stats.values())
    assert (result.from_version, result.to_version) == ("1.0.0", "1.1.0")
    assert "add column metrics.unit" in result.migration_steps
    assert "create table tags" in result.migration_steps
    assert result.backup_path is not None and result.backup_path.exists()
    assert result.database.exists() and result.elapsed > 0

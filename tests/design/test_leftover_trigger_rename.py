"""A rename in plan.json is carried into the SQL of triggers (issue 11 leftovers, item 3).

Views were rewritten on a rename already; a trigger kept the old name, so its ``CREATE TRIGGER
… ON "Artist"`` failed in the migration (or its body wrote to a table that no longer exists).
sqlglot cannot parse trigger bodies: SQLite's own ``ALTER TABLE … RENAME`` rewrites them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli_support import run

MUSIC = """
CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY, Name TEXT NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
CREATE TABLE "Artist log" (n INTEGER);
CREATE TRIGGER artist_added AFTER INSERT ON Artist
BEGIN
  INSERT INTO audit (what) VALUES ('Artist ' || new.Name);
  UPDATE audit SET what = what || '!' WHERE what = 'Artist' || ' ' || new.Name;
END;
CREATE TRIGGER artist_gone AFTER DELETE ON "Artist"
BEGIN
  INSERT INTO "Artist log" (n) SELECT count(*) FROM Artist AS a WHERE a.Name <> old.Name;
END;
INSERT INTO Artist VALUES (1, 'AC/DC');
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    with closing(sqlite3.connect(root / "data" / "music.db")) as conn:
        conn.executescript(MUSIC)
        conn.commit()
    for command in ("analyze", "design"):
        done = run(root, command)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def _plan(root: Path) -> dict[str, Any]:
    return dict(orjson.loads((root / ".dbfold" / "plan.json").read_bytes()))


def _save(root: Path, raw: dict[str, Any]) -> None:
    (root / ".dbfold" / "plan.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))


def _index(raw: dict[str, Any], name: str) -> int:
    return next(i for i, t in enumerate(raw["tables"]) if t["name"] == name)


def _ok(done: Any) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def test_design_carries_the_triggers(project: Path) -> None:
    raw = _plan(project)
    assert sorted(t["name"] for t in raw["triggers"]) == ["artist_added", "artist_gone"]


def test_table_and_column_renames_reach_the_triggers(project: Path) -> None:
    raw = _plan(project)
    raw["tables"][_index(raw, "Artist")]["name"] = "music_artist"
    raw["tables"][_index(raw, "audit")]["name"] = "music_audit"
    artist = raw["tables"][_index(raw, "music_artist")]
    name = next(c for c in artist["columns"] if c["name"] == "Name")
    name["name"] = "artist_name"
    _save(project, raw)

    done = run(project, "design", "--check")
    _ok(done)
    assert "$.triggers[0].sql: Artist → music_artist" in done.stdout, done.stdout
    assert "$.triggers[0].sql: audit → music_audit" in done.stdout, done.stdout
    assert "$.triggers[0].sql: Name → artist_name" in done.stdout, done.stdout
    assert "$.triggers[1].sql: Artist → music_artist" in done.stdout, done.stdout
    fixed = _plan(project)
    added, gone = fixed["triggers"]
    assert 'ON "music_artist"' in added["sql"] and '"music_audit"' in added["sql"]
    assert 'new."artist_name"' in added["sql"] and "'Artist '" in added["sql"]  # literal kept
    assert '"Artist log"' in gone["sql"] and 'a."artist_name" <> old."artist_name"' in gone["sql"]
    again = run(project, "design", "--check")
    assert again.returncode == 0 and "→" not in again.stdout, again.stdout

    # A later `dbfold design` keeps the renames, and the triggers with them.
    _ok(run(project, "design"))
    assert [t["sql"] for t in _plan(project)["triggers"]] == [added["sql"], gone["sql"]]

    _ok(run(project, "migrate", "--execute"))
    _ok(run(project, "verify"))
    with closing(sqlite3.connect(project / "data" / "unified.db")) as conn:
        conn.execute("INSERT INTO music_artist (ArtistId, artist_name) VALUES (2, 'Accept')")
        conn.execute("DELETE FROM music_artist WHERE ArtistId = 1")
        audit = conn.execute("SELECT what FROM music_audit ORDER BY id").fetchall()
        assert audit == [("Artist AC/DC!",), ("Artist Accept!",)]  # the source's row, then ours
        assert conn.execute('SELECT n FROM "Artist log"').fetchall() == [(1,)]


def test_trigger_writing_an_excluded_table_moves_to_excluded(project: Path) -> None:
    raw = _plan(project)
    del raw["tables"][_index(raw, "audit")]
    raw["excluded"].append(
        {"store": "data/music.db", "table": "audit", "reason": "not needed", "by": "user"}
    )
    _save(project, raw)
    done = run(project, "design", "--check")
    _ok(done)
    assert "$.triggers[0]: moved to excluded" in done.stdout, done.stdout
    fixed = _plan(project)
    assert [t["name"] for t in fixed["triggers"]] == ["artist_gone"]
    assert any(e["kind"] == "trigger" and e["table"] == "artist_added" for e in fixed["excluded"])
    _ok(run(project, "migrate", "--execute"))

"""Hand edits of plan.json that must flow: ``dbfold design --check`` carries renames along.

A user renames a table or a column in ``.dbfold/plan.json``, adds an exclusion, or splits a
merged table, then runs ``dbfold design --check``: every other place of the plan that named
the old thing is rewritten (and listed, one line per place), and afterwards ``migrate
--execute``, ``verify`` and the adapters work with the edited plan.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli_support import run
from dbfold.adapters import connect
from dbfold.plan import Plan

MUSIC = """
CREATE TABLE Artist (ArtistId INTEGER PRIMARY KEY, Name TEXT NOT NULL);
CREATE TABLE Album (
  AlbumId INTEGER PRIMARY KEY, Title TEXT,
  ArtistId INTEGER NOT NULL REFERENCES Artist(ArtistId)
);
CREATE INDEX ix_album_artist ON Album(ArtistId);
CREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT);
CREATE VIEW artist_albums AS
  SELECT Artist.Name, Album.Title FROM Album JOIN Artist ON Album.ArtistId = Artist.ArtistId;
INSERT INTO Artist VALUES (1, 'AC/DC'), (2, 'Accept');
INSERT INTO Album VALUES (1, 'For Those', 1), (2, 'Balls', 2), (3, 'Restless', 2);
INSERT INTO log VALUES (1, 'a'), (2, 'b');
"""

SHOP = """
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT);
CREATE TABLE entry (id INTEGER PRIMARY KEY, log_id INTEGER, note TEXT);
INSERT INTO customer VALUES (1, 'x');
INSERT INTO log VALUES (1, 'c');
INSERT INTO entry VALUES (1, 1, 'first');
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two SQLite stores: Album references Artist; ``log`` is merged from both."""
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    for name, script in (("music", MUSIC), ("shop", SHOP)):
        with closing(sqlite3.connect(root / "data" / f"{name}.db")) as conn:
            conn.executescript(script)
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


def _migrate_and_verify(root: Path) -> None:
    done = run(root, "migrate", "--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run(root, "verify")
    assert done.returncode == 0, done.stdout + done.stderr


def _legacy_rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run legacy SQL through the adapters built from the (edited) plan."""
    plan = Plan.from_json((root / ".dbfold" / "plan.json").read_bytes())
    conn = connect("data/music.db", plan, root=root)
    try:
        return sorted(conn.execute(sql).fetchall())
    finally:
        conn.close()


def test_table_rename_carries_foreign_keys_views_and_adapters(project: Path) -> None:
    raw = _plan(project)
    artist, album = _index(raw, "Artist"), _index(raw, "Album")
    raw["tables"][artist]["name"] = "music_artist"
    _save(project, raw)

    done = run(project, "design", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"$.tables[{album}].foreign_keys[0].ref_table: Artist → music_artist" in done.stdout
    assert "$.views[0].sql:" in done.stdout
    fixed = _plan(project)
    assert fixed["tables"][album]["foreign_keys"][0]["ref_table"] == "music_artist"
    sql = (project / "unified.sql").read_text(encoding="utf-8")
    assert 'REFERENCES "music_artist" ("ArtistId")' in sql
    assert '"Artist"' not in sql
    # A second check has nothing left to fix.
    again = run(project, "design", "--check")
    assert again.returncode == 0 and "→" not in again.stdout, again.stdout

    _migrate_and_verify(project)
    with closing(sqlite3.connect(project / "data" / "unified.db")) as conn:
        assert conn.execute("SELECT count(*) FROM artist_albums").fetchone() == (3,)
    assert _legacy_rows(project, "SELECT ArtistId, Name FROM Artist") == [
        (1, "AC/DC"),
        (2, "Accept"),
    ]
    joined = _legacy_rows(
        project,
        "SELECT Artist.Name, Album.Title FROM Album JOIN Artist USING (ArtistId) WHERE AlbumId = 2",
    )
    assert joined == [("Accept", "Balls")]


def test_column_rename_that_a_foreign_key_points_at(project: Path) -> None:
    raw = _plan(project)
    artist, album = _index(raw, "Artist"), _index(raw, "Album")
    raw["tables"][artist]["columns"][0]["name"] = "artist_id"
    _save(project, raw)

    done = run(project, "design", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"$.tables[{artist}].primary_key[0]: ArtistId → artist_id" in out
    assert f"$.tables[{artist}].sources[0].columns.ArtistId: ArtistId → artist_id" in out
    assert f"$.tables[{album}].foreign_keys[0].ref_columns[0]: ArtistId → artist_id" in out
    # The referencing column of Album keeps its own name.
    assert f"$.tables[{album}].foreign_keys[0].columns" not in out
    sql = (project / "unified.sql").read_text(encoding="utf-8")
    assert 'REFERENCES "Artist" ("artist_id")' in sql
    view = _plan(project)["views"][0]["sql"]
    assert "artist_id" in view and "Album.ArtistId" in view.replace('"', "")

    _migrate_and_verify(project)
    with closing(sqlite3.connect(project / "data" / "unified.db")) as conn:
        assert conn.execute("SELECT count(*) FROM artist_albums").fetchone() == (3,)
    assert _legacy_rows(project, "SELECT ArtistId FROM Artist") == [(1,), (2,)]


def test_hand_exclusion_of_a_referenced_table(project: Path) -> None:
    raw = _plan(project)
    artist = _index(raw, "Artist")
    del raw["tables"][artist]
    raw["excluded"].append(
        {"store": "data/music.db", "table": "Artist", "reason": "not needed", "by": "user"}
    )
    _save(project, raw)
    album = _index(raw, "Album")

    done = run(project, "design", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"$.tables[{album}].foreign_keys[0]: dropped (Artist is not in the plan)" in done.stdout
    assert "$.views[0]: moved to excluded" in done.stdout
    fixed = _plan(project)
    assert fixed["tables"][album]["foreign_keys"] == []
    assert fixed["views"] == []
    assert any(e["kind"] == "view" and e["table"] == "artist_albums" for e in fixed["excluded"])
    _migrate_and_verify(project)


def test_split_a_merged_table(project: Path) -> None:
    raw = _plan(project)
    log = _index(raw, "log")
    merged = raw["tables"][log]
    shop = dict(merged, name="shop_log", sources=[merged["sources"][1]])
    merged["sources"] = [merged["sources"][0]]
    raw["tables"].append(shop)
    # One store per table now: the user deletes the 'source' column that told them apart.
    for t in (merged, shop):
        t["columns"] = [c for c in t["columns"] if c["name"] != "source"]
    _save(project, raw)

    done = run(project, "design", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"$.tables[{log}].primary_key[0]: source dropped" in done.stdout
    assert f"$.tables[{log}].sources[0].discriminator: source dropped" in done.stdout
    fixed = _plan(project)
    assert fixed["tables"][-1]["primary_key"] == ["id"]
    assert fixed["tables"][-1]["sources"][0]["discriminator"] is None
    _migrate_and_verify(project)
    with closing(sqlite3.connect(project / "data" / "unified.db")) as conn:
        assert conn.execute("SELECT count(*) FROM shop_log").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM log").fetchone() == (2,)


def test_split_and_rename_of_a_merged_table_cannot_tell(project: Path) -> None:
    raw = _plan(project)
    log = _index(raw, "log")
    merged = raw["tables"][log]
    shop = dict(merged, name="shop_log", sources=[merged["sources"][1]])
    merged["name"] = "music_log"
    merged["sources"] = [merged["sources"][0]]
    raw["tables"].append(shop)
    # The user also points entry.log_id at 'log', a name the same edit takes away.
    entry = _index(raw, "entry")
    raw["tables"][entry]["foreign_keys"].append(
        {"columns": ["log_id"], "ref_table": "log", "ref_columns": ["id"]}
    )
    _save(project, raw)
    before = (project / ".dbfold" / "plan.json").read_bytes()

    done = run(project, "design", "--check")
    assert done.returncode != 0
    err = done.stderr
    assert f"$.tables[{entry}].foreign_keys[0].ref_table" in err
    assert "'music_log'" in err and "'shop_log'" in err
    assert (project / ".dbfold" / "plan.json").read_bytes() == before

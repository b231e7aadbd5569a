"""Where the adapters' fast path could go wrong: cached translations shared by statement text,
the per-class base lookups that replace ``super()``, the inlined write bookkeeping."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from adapters_support import Project, fill_unified, rename_columns

from dbfold.adapters import LegacyConnection, connect, store_map
from dbfold.adapters.connection import StoreLockedError
from dbfold.adapters.rewrite import translator_for
from dbfold.plan import Plan
from dbfold.provenance import LOG_TABLE

CLICKS, VIEWS, ORDERS = "trackers/clicks.db", "trackers/views.db", "app/orders.db"


@pytest.fixture
def fresh(project: Project, tmp_path: Path) -> Project:
    return project.copy(tmp_path / "p")


def open_(p: Project, store: str, plan: Plan | None = None, **kwargs: Any) -> LegacyConnection:
    return connect(store, plan or p.plan, p.unified, root=p.root, analysis=p.analysis, **kwargs)


def logged(path: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            f'SELECT "target_table", "source", "key", "op" FROM "{LOG_TABLE}" ORDER BY rowid'
        ).fetchall()


def test_same_text_on_two_stores_writes_each_its_own_rows(fresh: Project) -> None:
    clicks, views = open_(fresh, CLICKS), open_(fresh, VIEWS)
    insert = "INSERT INTO events (kind, ts) VALUES (?, ?)"
    ids = []
    for n in range(3):  # the same text, other parameters, two stores, in turns
        for conn, kind in ((clicks, "c"), (views, "v")):
            cur = conn.execute(insert, (f"{kind}{n}", n))
            ids.append(cur.lastrowid)
            conn.commit()
    assert ids == [18, 12, 19, 13, 20, 14]  # each store's own next key
    with sqlite3.connect(fresh.unified) as db:
        rows = db.execute(
            "SELECT source, id, kind, ts FROM events WHERE kind GLOB '[cv][0-9]' ORDER BY rowid"
        ).fetchall()
    assert rows == [
        ("clicks", 18, "c0", 0),
        ("views", 12, "v0", 0),
        ("clicks", 19, "c1", 1),
        ("views", 13, "v1", 1),
        ("clicks", 20, "c2", 2),
        ("views", 14, "v2", 2),
    ]
    assert logged(fresh.unified) == [
        ("events", source, f"[{key}]", "insert")
        for source, key in zip(["clicks", "views"] * 3, ids, strict=True)
    ]
    # The same read text names another table in another store.
    orders = open_(fresh, ORDERS)
    assert orders.execute("SELECT COUNT(*) FROM events").fetchone() == (4,)
    assert clicks.execute("SELECT COUNT(*) FROM events").fetchone() == (20,)
    assert views.execute("SELECT COUNT(*) FROM events").fetchone() == (14,)
    # A DELETE's cached text still carries each store's discriminator.
    for conn in (clicks, views):
        assert conn.execute("DELETE FROM events WHERE ts = ?", (1,)).rowcount == 1
        conn.commit()
    assert logged(fresh.unified)[-2:] == [
        ("events", "clicks", "[19]", "delete"),
        ("events", "views", "[13]", "delete"),
    ]
    for conn in (clicks, views, orders):
        conn.close()


def test_translation_follows_a_new_plan(fresh: Project) -> None:
    sql = "SELECT total FROM orders WHERE id = ?"
    old = open_(fresh, ORDERS)
    assert old.execute(sql, (3,)).fetchone() == (4.5,)
    translator = translator_for(store_map(fresh.plan, ORDERS, fresh.analysis))
    assert '"total_usd"' in translator.translate(sql).sql
    hits = translator.translate.cache_info().hits  # type: ignore[attr-defined]
    again = open_(fresh, ORDERS)  # the same plan: one shared map and cache
    assert again.execute(sql, (3,)).fetchone() == (4.5,)
    assert translator.translate.cache_info().hits == hits + 1  # type: ignore[attr-defined]
    again.close()

    # The user edits plan.json: the column is renamed; a database built for the new plan.
    edited = rename_columns(fresh.plan, {"orders": {"total_usd": "amount"}})
    target = fresh.root / "data" / "edited.db"
    fill_unified(edited, fresh.root, target, analysis=fresh.analysis)
    new = connect(ORDERS, edited, target, root=fresh.root, analysis=fresh.analysis)
    assert new.execute(sql, (3,)).fetchone() == (4.5,)
    assert new.execute("UPDATE orders SET total = ? WHERE id = ?", (9.0, 3)).rowcount == 1
    new.commit()
    with sqlite3.connect(target) as db:
        assert db.execute('SELECT "amount" FROM orders WHERE id = 3').fetchone() == (9.0,)
    edited_sql = translator_for(store_map(edited, ORDERS, fresh.analysis)).translate(sql).sql
    assert '"amount"' in edited_sql and "total_usd" not in edited_sql
    # The old connection keeps the plan it was opened with.
    assert old.execute(sql, (3,)).fetchone() == (4.5,)
    # An equal plan that is another object (plan.json read again) gets its own map.
    reloaded = Plan.from_dict(fresh.plan.to_dict())
    assert store_map(reloaded, ORDERS, fresh.analysis) is not store_map(
        fresh.plan, ORDERS, fresh.analysis
    )
    for conn in (old, new):
        conn.close()


def test_cursor_factories_keep_their_own_methods(fresh: Project) -> None:
    seen: list[str] = []

    class Recording(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Any:
            seen.append(sql)
            return super().execute(sql, parameters)

    orders = open_(fresh, ORDERS)
    cur = orders.cursor(Recording)
    assert cur.execute("SELECT total FROM orders WHERE id = ?", (3,)).fetchone() == (4.5,)
    assert len(seen) == 1 and '"total_usd"' in seen[0]  # the factory ran the translation
    clicks = open_(fresh, CLICKS)
    cur = clicks.cursor(Recording)
    cur.execute("INSERT INTO events (kind) VALUES ('z')")
    assert cur.lastrowid == 18 and cur.rowcount == 1  # the legacy key
    clicks.commit()
    assert logged(fresh.unified) == [("events", "clicks", "[18]", "insert")]
    for conn in (orders, clicks):
        conn.close()


def test_begin_after_a_commit_still_checks_the_other_writers(fresh: Project) -> None:
    clicks = open_(fresh, CLICKS, timeout=0.2)
    views = open_(fresh, VIEWS, timeout=0.2)
    views.execute("UPDATE users SET score = 1 WHERE id = 1")
    views.commit()
    views.execute("BEGIN")  # not a write: it must still clear the stale "wrote" mark
    clicks.execute("INSERT INTO events (kind) VALUES ('a')")
    with pytest.raises(StoreLockedError, match="this thread"):  # at once, not after waiting
        views.execute("UPDATE users SET score = 2 WHERE id = 1")
    clicks.rollback()
    assert views.execute("UPDATE users SET score = 2 WHERE id = 1").rowcount == 1
    views.commit()
    assert logged(fresh.unified) == [
        ("users", "views", "[1]", "update"),
        ("users", "views", "[1]", "update"),
    ]
    for conn in (clicks, views):
        conn.close()

"""Support of the adapter tests (a uniquely named module: ``conftest`` and ``helpers`` clash
across test folders).

``fill_unified`` stands in for ``dbfold migrate`` (built elsewhere): it creates the unified
schema with ``render_sql(plan)`` and copies the rows of every SQLite store through the
plan's column map, adding the discriminator of merged tables. ``build_stores`` makes a small
project: two trackers with same-shaped tables (merged) and an app store with clashing and
hostile names.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from dbfold.design import render_sql
from dbfold.model import Analysis
from dbfold.plan import Plan, split_path
from dbfold.runtime.backend import quote_ident

# Hypothesis settings of the adapter tests. Locally the example database (.hypothesis/, git-
# ignored) replays every failure found before, so a rare counterexample is not lost; with the
# CI environment variable set, examples are derandomized (the same ones each run, no state on
# disk), so a CI result is reproducible. The profiles are registered, never loaded: loading
# is global and would change the hypothesis tests of other folders too.
settings.register_profile(
    "dbfold-adapters-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dbfold-adapters-dev",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
HYPOTHESIS = settings.get_profile(
    "dbfold-adapters-ci" if os.environ.get("CI") else "dbfold-adapters-dev"
)


def create_unified(plan: Plan, target: Path) -> None:
    """Create an empty unified database holding the plan's schema."""
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(render_sql(plan))
    finally:
        conn.close()


def fill_unified(
    plan: Plan, root: Path, target: Path, *, analysis: Analysis, create: bool = True
) -> None:
    """Copy the rows of every SQLite store into the unified database (creating it first).

    The analysis says which stores are SQLite (``kind``), as it does for migrate: a SQLite
    header would not do, since on Python 3.13 shelve and dbm write ``dbm.sqlite3`` files,
    SQLite databases that are shelve/dbm stores.
    """
    sqlite_stores = {s.path for s in analysis.stores if s.kind == "sqlite"}
    if create:
        create_unified(plan, target)
    conn = sqlite3.connect(target)
    try:
        for table in plan.tables:
            for src in table.sources:
                path = root / src.store
                if src.array is not None or src.store not in sqlite_stores:
                    continue
                legacy = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    names = [split_path(p)[0] for p in src.columns]
                    cols = ", ".join(quote_ident(n) for n in names)
                    rows = legacy.execute(f"SELECT {cols} FROM {quote_ident(src.table)}").fetchall()
                finally:
                    legacy.close()
                targets = list(src.columns.values())
                values: list[object] = []
                if src.discriminator:
                    targets.append(src.discriminator)
                    values.append(src.value)
                marks = ", ".join("?" for _ in targets)
                sql = (
                    f"INSERT INTO {quote_ident(table.name)} "
                    f"({', '.join(quote_ident(t) for t in targets)}) VALUES ({marks})"
                )
                conn.executemany(sql, [(*row, *values) for row in rows])
        conn.commit()
    finally:
        conn.close()


def is_sqlite(path: Path) -> bool:
    """Whether ``path`` is a SQLite database file."""
    try:
        with path.open("rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


CODE = """import sqlite3


class ClickTracker:
    def __init__(self):
        self.conn = sqlite3.connect("trackers/clicks.db")

    def count(self):
        return self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def orders():
    return sqlite3.connect("app/orders.db").execute("SELECT * FROM orders").fetchall()
"""

#: Target columns renamed by hand in the plan (a user edit flows into the adapters).
RENAMES = {
    "orders": {"total": "total_usd", "code": "order code"},
    "orders_events": {"select": "sel"},
}


def build_stores(root: Path) -> None:
    """Two trackers with same-shaped tables (merged; ``events`` keyed AUTOINCREMENT,
    ``users`` by a plain INTEGER PRIMARY KEY) and an app store with clashing and hostile
    names."""
    (root / "trackers").mkdir(parents=True, exist_ok=True)
    (root / "app").mkdir(parents=True, exist_ok=True)
    for name, n in (("clicks", 6), ("views", 4)):
        conn = sqlite3.connect(root / "trackers" / f"{name}.db")
        conn.executescript(
            """
            CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, score INTEGER);
            CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
                                 ts INTEGER, user_id INTEGER);
            CREATE INDEX idx_events_ts ON events (ts);
            """
        )
        for i in range(1, n + 1):
            conn.execute("INSERT INTO users VALUES (?, ?, ?)", (i, f"{name}{i}@x", i % 3))
        for i in range(1, 3 * n):
            kind = ["a", "b", "c"][i % 3]
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (i, kind, i * 10, i % n + 1))
        conn.commit()
        conn.close()
    conn = sqlite3.connect(root / "app" / "orders.db")
    conn.executescript(
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE orders (id INTEGER PRIMARY KEY,
                             customer_id INTEGER REFERENCES customers(id),
                             total REAL, code TEXT);
        CREATE TABLE events ("my id" INTEGER PRIMARY KEY, "select" TEXT, [we"ird] INTEGER);
        CREATE TABLE costs (day TEXT NOT NULL, model TEXT NOT NULL,
                            calls INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, model));
        """
    )
    for i in range(1, 6):
        conn.execute("INSERT INTO customers VALUES (?, ?)", (i, f"c{i}"))
    for i in range(1, 12):
        conn.execute(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            (i, i % 5 + 1, i * 1.5, "x" if i % 2 else None),
        )
    for i in range(1, 5):
        conn.execute("INSERT INTO events VALUES (?, ?, ?)", (i, f"s{i}", i))
        conn.execute("INSERT INTO costs VALUES (?, ?, ?)", (f"d{i % 2}", f"m{i}", i))
    conn.commit()
    conn.close()
    (root / "app" / "code.py").write_text(CODE, encoding="utf-8")


def rename_columns(plan: Plan, renames: dict[str, dict[str, str]]) -> Plan:
    """Rename target columns in a plan, as a user editing plan.json would."""
    data = plan.to_dict()
    for table in data["tables"]:
        change = renames.get(table["name"], {})
        if not change:
            continue

        def new(name: str, change: dict[str, str] = change) -> str:
            return change.get(name, name)

        for col in table["columns"]:
            col["name"] = new(col["name"])
        table["primary_key"] = [new(c) for c in table["primary_key"]]
        for ix in table["indexes"]:
            ix["columns"] = [new(c) for c in ix["columns"]]
        for fk in table["foreign_keys"]:
            fk["columns"] = [new(c) for c in fk["columns"]]
        for src in table["sources"]:
            src["columns"] = {k: new(v) for k, v in src["columns"].items()}
    return Plan.from_dict(data)


@dataclass
class Project:
    """A built project: its root, analysis, plan and a pristine unified database."""

    root: Path
    analysis: Analysis
    plan: Plan
    unified: Path

    def copy(self, dest: Path) -> Project:
        """A fresh copy of the project (legacy files and unified database) under ``dest``."""
        shutil.copytree(self.root, dest)
        return Project(dest, self.analysis, self.plan, dest / self.unified.relative_to(self.root))


def rows_of(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql).fetchall()]

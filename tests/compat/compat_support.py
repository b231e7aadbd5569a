"""Support of the compatibility tests (a uniquely named module: ``conftest`` and ``helpers``
clash across test folders).

``build_legacy`` makes a small project the way a legacy program left it (two SQLite stores)
and runs the real pipeline on it (analyze → design → migrate), so that a test can open the
same store twice: with plain ``sqlite3`` on the legacy file and through the adapters on the
unified database, and compare what each connection says and does.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbfold.adapters import LegacyConnection, connect
from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze

TRACKING = "data/tracking.db"
CALENDAR = "data/calendar.db"
#: Two trackers with the same ``events`` table: merged, AUTOINCREMENT emulated per source.
CLICKS = "data/clicks.db"
VIEWS = "data/views.db"

#: Declared types that the unified schema keeps (so PARSE_DECLTYPES can be honoured).
TRACKING_SQL = """
CREATE TABLE actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    created TIMESTAMP,
    amount REAL
);
INSERT INTO actions (action, created, amount) VALUES ('open', '2024-01-02 03:04:05', 1.5);
INSERT INTO actions (action, created, amount) VALUES ('save', '2024-02-03 04:05:06', 2.25);
"""
#: ``DATE`` becomes ``TIMESTAMP`` in the unified schema: another converter.
CALENDAR_SQL = """
CREATE TABLE days (id INTEGER PRIMARY KEY, day DATE NOT NULL, note TEXT);
INSERT INTO days (day, note) VALUES ('2024-01-02', 'first');
"""

EVENTS_SQL = """
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL);
INSERT INTO events (kind) VALUES ('a');
INSERT INTO events (kind) VALUES ('b');
"""
STORES = {TRACKING: TRACKING_SQL, CALENDAR: CALENDAR_SQL, CLICKS: EVENTS_SQL, VIEWS: EVENTS_SQL}


@dataclass(frozen=True)
class Legacy:
    """A migrated legacy project."""

    root: Path
    analysis: Analysis
    plan: Plan

    def copy(self, dest: Path) -> Legacy:
        """A copy at ``dest`` (each test changes its own files)."""
        shutil.copytree(self.root, dest)
        return Legacy(dest, self.analysis, self.plan)

    def plain(self, store: str = TRACKING, **kwargs: Any) -> sqlite3.Connection:
        """``sqlite3.connect`` on the legacy file itself."""
        return sqlite3.connect(self.root / store, **kwargs)

    def routed(self, store: str = TRACKING, **kwargs: Any) -> LegacyConnection:
        """The same store through the adapters, on the unified database."""
        return connect(store, self.plan, root=self.root, analysis=self.analysis, **kwargs)


def build_legacy(root: Path) -> Legacy:
    """Write the legacy stores under ``root`` and migrate them into ``data/unified.db``."""
    (root / "data").mkdir(parents=True)
    for store, sql in STORES.items():
        conn = sqlite3.connect(root / store)
        try:
            conn.executescript(sql)
        finally:
            conn.close()
    analysis = analyze(root)
    plan = design(analysis)
    report = migrate(plan, analysis, root, execute=True)
    assert (root / plan.target).exists(), report
    return Legacy(root, analysis, plan)


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (dbfold's own state and targets left out)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(".dbfold") or "unified.db" in rel or not p.is_file():
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out

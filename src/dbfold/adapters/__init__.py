"""Legacy routing: the old code keeps running, unchanged, on the unified database.

* :func:`connect` opens a :class:`LegacyConnection`, a ``sqlite3.Connection`` onto the
  unified database that speaks one legacy store's schema (SQL rewritten with sqlglot).
* :class:`JsonStore` and :class:`JsonlLog` stand in for JSON and JSON Lines files.
* :func:`install` patches ``sqlite3.connect`` so that connecting to a migrated store returns
  a :class:`LegacyConnection`; :func:`uninstall` undoes it; :func:`run_legacy` runs an
  unchanged program with the routing installed.
* :class:`LegacyAdapter` is the base of the adapters ``project_db.py`` declares.
"""

from __future__ import annotations

from dbfold.adapters.connection import LegacyConnection, LegacyCursor, connect, store_map
from dbfold.adapters.mapping import StoreMap, TableMap
from dbfold.adapters.records import JsonlLog, JsonStore
from dbfold.adapters.routing import (
    LegacyAdapter,
    install,
    installed,
    run_legacy,
    uninstall,
)

__all__ = [
    "JsonStore",
    "JsonlLog",
    "LegacyAdapter",
    "LegacyConnection",
    "LegacyCursor",
    "StoreMap",
    "TableMap",
    "connect",
    "install",
    "installed",
    "run_legacy",
    "store_map",
    "uninstall",
]

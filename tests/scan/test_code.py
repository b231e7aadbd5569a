"""find_interfaces: detection of every store-opening pattern, SQL tables, problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from scan_support import scan_code

from dbfold.model import Interface, StoreUse
from dbfold.scan.code import CodeScan, find_interfaces
from dbfold.scan.code_sql import sql_tables

STORES = (
    "data/tracking.db",
    "data/costs.db",
    "data/users.json",
    "logs/events.jsonl",
    "exports/costs.csv",
    "cache/sessions.dir",
    "data/kv",
    "data/model.pkl",
    "data/settings_db.json",
    "data/app.db",
)


def scan(tmp_path: Path, files: dict[str, str], stores: tuple[str, ...] = STORES) -> CodeScan:
    return scan_code(tmp_path, files, stores)


def only(result: CodeScan, name: str) -> Interface:
    found = [i for i in result.interfaces if i.name == name]
    assert len(found) == 1, [i.name for i in result.interfaces]
    return found[0]


def use(result: CodeScan, name: str) -> StoreUse:
    uses = only(result, name).uses
    assert len(uses) == 1, uses
    return uses[0]


@pytest.mark.parametrize(
    ("source", "api"),
    [
        ("import sqlite3\ndef f():\n    return sqlite3.connect('data/app.db')", "sqlite3.connect"),
        (
            "from sqlite3 import connect\ndef f():\n    return connect('data/app.db')",
            "sqlite3.connect",
        ),
        (
            "import sqlite3 as sq\ndef f():\n    return sq.connect(database='data/app.db')",
            "sqlite3.connect",
        ),
        ("import shelve\ndef f():\n    return shelve.open('cache/sessions')", "shelve.open"),
        ("import dbm\ndef f():\n    return dbm.open('data/kv', 'c')", "dbm.open"),
        (
            "from tinydb import TinyDB\ndef f():\n    return TinyDB('data/settings_db.json')",
            "tinydb.TinyDB",
        ),
        (
            "from sqlalchemy import create_engine\ndef f():\n"
            "    return create_engine('sqlite:///data/app.db')",
            "sqlalchemy.create_engine",
        ),
        (
            "import peewee\ndef f():\n    return peewee.SqliteDatabase('data/app.db')",
            "peewee.SqliteDatabase",
        ),
        (
            "import json\ndef f():\n    with open('data/users.json') as fh:\n"
            "        return json.load(fh)",
            "json.load",
        ),
        (
            "import json\ndef f(x):\n    with open('data/users.json', 'w') as fh:\n"
            "        json.dump(x, fh, indent=2)",
            "json.dump",
        ),
        ("import json\ndef f():\n    return json.load(open('data/users.json'))", "json.load"),
        (
            "import json\nfrom pathlib import Path\ndef f():\n"
            "    return json.loads(Path('data/users.json').read_text())",
            "json.loads",
        ),
        (
            "import json\nfrom pathlib import Path\ndef f():\n"
            "    text = Path('data/users.json').read_text(encoding='utf-8')\n"
            "    return json.loads(text)",
            "json.loads",
        ),
        (
            "import json\ndef f():\n    out = []\n    with open('logs/events.jsonl') as f:\n"
            "        for line in f:\n            out.append(json.loads(line))\n    return out",
            "jsonl",
        ),
        (
            "import json\ndef f():\n    with open('logs/events.jsonl') as f:\n"
            "        return [json.loads(l) for l in f if l.strip()]",
            "jsonl",
        ),
        (
            "import json\ndef f(ev):\n    with open('logs/events.jsonl', 'a') as f:\n"
            "        f.write(json.dumps(ev) + '\\n')",
            "jsonl",
        ),
        (
            "import json\ndef f(ev):\n    line = json.dumps(ev) + '\\n'\n"
            "    with open('logs/events.jsonl', 'a') as f:\n        f.write(line)",
            "jsonl",
        ),
        (
            "import csv\ndef f():\n    with open('exports/costs.csv', newline='') as f:\n"
            "        return list(csv.reader(f))",
            "csv.reader",
        ),
        (
            "import csv\ndef f():\n    with open('exports/costs.csv') as f:\n"
            "        return list(csv.DictReader(f))",
            "csv.DictReader",
        ),
        (
            "import csv\ndef f(rows):\n    with open('exports/costs.csv', 'w') as f:\n"
            "        w = csv.DictWriter(f, fieldnames=['a'])\n        w.writerows(rows)",
            "csv.DictWriter",
        ),
        (
            "import pickle\ndef f():\n    with open('data/model.pkl', 'rb') as f:\n"
            "        return pickle.load(f)",
            "pickle.load",
        ),
        (
            "import pickle\ndef f(m):\n    with open('data/model.pkl', 'wb') as f:\n"
            "        pickle.dump(m, f)",
            "pickle.dump",
        ),
    ],
)
def test_every_opening_pattern_is_detected_and_matched(
    tmp_path: Path, source: str, api: str
) -> None:
    result = scan(tmp_path, {"app.py": source})
    found = use(result, "f")
    assert found.api == api
    assert found.store is not None, found
    assert found.matched_from == "root"
    assert only(result, "f").kind == "function"
    assert result.problems == ()


def test_expression_and_line_are_recorded(tmp_path: Path) -> None:
    result = scan(
        tmp_path, {"a.py": "import sqlite3\n\nDB = 'data/app.db'\nconn = sqlite3.connect(DB)\n"}
    )
    iface = only(result, "a")
    assert iface.kind == "module"
    assert iface.uses == (
        StoreUse("sqlite3.connect", 4, "DB", "data/app.db", "data/app.db", "root"),
    )


def test_memory_and_server_urls_are_not_stores(tmp_path: Path) -> None:
    source = """
        import sqlite3
        from sqlalchemy import create_engine
        def f():
            sqlite3.connect(":memory:")
            sqlite3.connect("file::memory:?cache=shared", uri=True)
            create_engine("postgresql://u@h/db")
            create_engine("sqlite://")
    """
    assert scan(tmp_path, {"m.py": source}).interfaces == ()


def test_uri_and_url_forms_are_stripped_to_the_path(tmp_path: Path) -> None:
    source = """
        import sqlite3
        from sqlalchemy import create_engine
        def a():
            return sqlite3.connect("file:data/app.db?mode=ro", uri=True)
        def b():
            return create_engine("sqlite+pysqlite:///data/costs.db?timeout=5")
    """
    result = scan(tmp_path, {"m.py": source})
    assert use(result, "a").store == "data/app.db"
    assert use(result, "b").store == "data/costs.db"


def test_unresolved_path_is_kept_and_reported(tmp_path: Path) -> None:
    source = "import os, sqlite3\n\ndef f():\n    return sqlite3.connect(os.environ['DB'])\n"
    result = scan(tmp_path, {"app/x.py": source})
    found = use(result, "f")
    assert (found.resolved, found.store, found.expression) == (None, None, "os.environ['DB']")
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.severity == "warning" and problem.path == "app/x.py" and problem.line == 4
    assert problem.message == (
        "app/x.py:4: cannot resolve the path `os.environ['DB']` statically; "
        "map it in the plan by hand"
    )


def test_resolved_path_without_store_stays(tmp_path: Path) -> None:
    result = scan(
        tmp_path, {"m.py": "import sqlite3\ndef f():\n    sqlite3.connect('new/later.db')\n"}
    )
    found = use(result, "f")
    assert (found.resolved, found.store, found.matched_from) == ("new/later.db", None, None)
    assert only(result, "f").stores == ()
    assert result.problems == ()


def test_syntax_error_file_is_reported_and_the_rest_scanned(tmp_path: Path) -> None:
    result = scan(
        tmp_path,
        {
            "broken.py": "def f(:\n    pass\n",
            "nul.py": "x = 1\0\n",
            "ok.py": "import sqlite3\ndef f():\n    sqlite3.connect('data/app.db')\n",
        },
    )
    assert [i.path for i in result.interfaces] == ["ok.py"]
    paths = sorted(p.path for p in result.problems)
    assert paths == ["broken.py", "nul.py"]
    assert all(p.severity == "warning" for p in result.problems)
    broken = next(p for p in result.problems if p.path == "broken.py")
    assert broken.line == 1 and broken.message.startswith("broken.py:1: ")


def test_latin1_source_with_coding_line_parses(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\nimport sqlite3\nNAME = 'caf\xe9'\n"
    source += "def f():\n    sqlite3.connect('data/app.db')\n"
    (tmp_path / "l.py").write_bytes(source.encode("latin-1"))
    result = find_interfaces(tmp_path, STORES)
    assert use(result, "f").store == "data/app.db"


def test_sql_tables_are_collected_per_class(tmp_path: Path) -> None:
    source = '''
        import sqlite3

        class Tracker:
            """Select the best rows from the table."""

            def __init__(self, db_path="data/tracking.db"):
                self.conn = sqlite3.connect(db_path)

            def add(self):
                self.conn.execute("INSERT INTO actions (a) VALUES (?)", (1,))
                self.conn.execute("""
                    WITH recent AS (SELECT * FROM events)
                    SELECT * FROM recent JOIN "odd name" o ON o.id = recent.id
                """)
                self.conn.execute("select count(*) from sqlite_master")
                self.conn.execute(f"SELECT * FROM {self.table} WHERE x = 1")
                label = "Update the dashboard"
                other = "DELETE me if you can ((("
                return label, other
    '''
    result = scan(tmp_path, {"t.py": source})
    iface = only(result, "Tracker")
    assert iface.kind == "class"
    assert iface.stores == ("data/tracking.db",)
    assert iface.tables == ("actions", "events", "odd name")  # sorted


def test_sql_tables_function() -> None:
    assert sql_tables("REPLACE INTO cache (k) VALUES (1)") == ("cache",)
    assert sql_tables("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY)") == ("jobs",)
    assert sql_tables("DROP TABLE old_runs") == ("old_runs",)
    assert sql_tables("Selected items from the list") == ()
    assert sql_tables("SELECT FROM WHERE (((") == ()
    assert sql_tables("UPDATE jobs SET s = 1 WHERE id IN (SELECT job_id FROM job_runs)") == (
        "job_runs",
        "jobs",
    )


def test_hostile_names(tmp_path: Path) -> None:
    stores = ("data/my db's [1].db", "données/é.json")
    source = """
        import json, sqlite3

        class Über:
            PATH = "data/my db's [1].db"

            def __init__(self):
                self.conn = sqlite3.connect(self.PATH)
                self.conn.execute('SELECT * FROM "select" JOIN [we""ird] USING (id)')

        def load():
            with open("données/é.json", encoding="utf-8") as f:
                return json.load(f)
    """
    result = scan(tmp_path, {"pkg/mod ü.py": source}, stores)
    iface = only(result, "Über")
    assert iface.stores == ("data/my db's [1].db",)
    assert iface.path == "pkg/mod ü.py"
    assert set(iface.tables) == {"select", 'we""ird'} or set(iface.tables) == {"select", 'we"ird'}
    assert use(result, "load").store == "données/é.json"


def test_skipped_folders_and_files_override(tmp_path: Path) -> None:
    opener = "import sqlite3\ndef f():\n    sqlite3.connect('data/app.db')\n"
    files = {
        "app.py": opener,
        ".venv/lib/x.py": opener,
        "node_modules/y.py": opener,
        "env2/lib/z.py": opener,
        "build/b.py": opener,
        "__pycache__/c.py": opener,
    }
    scan(tmp_path, {})
    for rel, source in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(source)
    (tmp_path / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    result = find_interfaces(tmp_path, STORES)
    assert [i.path for i in result.interfaces] == ["app.py"]
    chosen = find_interfaces(tmp_path, STORES, files=[Path("build/b.py")])
    assert [i.path for i in chosen.interfaces] == ["build/b.py"]


def test_interface_kinds_and_order(tmp_path: Path) -> None:
    source = """
        import sqlite3

        conn = sqlite3.connect("data/app.db")

        def helper():
            def inner():
                return sqlite3.connect("data/costs.db")
            return inner

        class Outer:
            class Inner:
                def go(self):
                    return sqlite3.connect("data/tracking.db")
    """
    result = scan(tmp_path, {"m.py": source})
    assert [(i.name, i.kind, i.line) for i in result.interfaces] == [
        ("m", "module", 1),
        ("helper", "function", 6),
        ("Outer", "class", 11),
    ]
    assert only(result, "Outer").stores == ("data/tracking.db",)

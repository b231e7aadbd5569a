"""find_interfaces: static path resolution and working-directory matching."""

from __future__ import annotations

from pathlib import Path

import pytest
from scan_support import scan_code

from dbfold.model import StoreUse
from dbfold.scan.code import CodeScan

STORES = (
    "data/tracking.db",
    "app/data/local.db",
    "app/sub/deep.db",
    "top.db",
    "cache/sessions.dat",
)


def scan(tmp_path: Path, files: dict[str, str], stores: tuple[str, ...] = STORES) -> CodeScan:
    return scan_code(tmp_path, files, stores)


def uses_of(result: CodeScan, name: str) -> tuple[StoreUse, ...]:
    found = [i for i in result.interfaces if i.name == name]
    assert len(found) == 1, [i.name for i in result.interfaces]
    return found[0].uses


def one(result: CodeScan, name: str) -> StoreUse:
    uses = uses_of(result, name)
    assert len(uses) == 1, uses
    return uses[0]


@pytest.mark.parametrize(
    "expr",
    [
        "'data/tracking.db'",
        "DB",
        "os.path.join('data', 'tracking.db')",
        "os.path.join(DATA, NAME + '.db')",
        "f'{DATA}/{NAME}.db'",
        "'data/%s.db' % NAME",
        "'data/{}.db'.format(NAME)",
        "Path('data') / 'tracking.db'",
        "Path('data', 'tracking.db')",
        "str(Path(DATA).joinpath('tracking.db'))",
        "Path('data/tracking.txt').with_suffix('.db')",
        "PATHS['tracking']",
        "os.getenv('TRACKING_DB', 'data/tracking.db')",
        "os.path.join(os.getcwd(), 'data', 'tracking.db')",
        "'./data/../data/tracking.db'",
    ],
)
def test_static_expressions(tmp_path: Path, expr: str) -> None:
    source = f"""
        import os
        import sqlite3
        from pathlib import Path

        DATA = "data"
        NAME = "tracking"
        DB = DATA + "/" + NAME + ".db"
        PATHS = {{"tracking": DB, "other": "x.db"}}

        def f():
            return sqlite3.connect({expr})
    """
    use = one(scan(tmp_path, {"main.py": source}), "f")
    assert (use.resolved, use.store, use.matched_from) == (
        "data/tracking.db",
        "data/tracking.db",
        "root",
    )


@pytest.mark.parametrize(
    "expr",
    [
        "os.path.join(os.path.dirname(__file__), '..', 'data', 'tracking.db')",
        "os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "
        "'data', 'tracking.db')",
        "Path(__file__).parent.parent / 'data' / 'tracking.db'",
        "Path(__file__).resolve().parent.parent.joinpath('data', 'tracking.db')",
        "Path(__file__).with_name('local.db').parent.parent / 'data/tracking.db'",
    ],
)
def test_paths_from_file_are_anchored(tmp_path: Path, expr: str) -> None:
    source = "import os, sqlite3\nfrom pathlib import Path\n"
    source += f"def f():\n    return sqlite3.connect({expr})\n"
    use = one(scan(tmp_path, {"app/x.py": source}), "f")
    assert (use.resolved, use.store, use.matched_from) == (
        "data/tracking.db",
        "data/tracking.db",
        "file",
    )


def test_working_directory_matching(tmp_path: Path) -> None:
    source = """
        import sqlite3
        def root_rel():
            return sqlite3.connect("data/tracking.db")
        def file_rel():
            return sqlite3.connect("deep.db")
        def between():
            return sqlite3.connect("data/local.db")
        def parent_rel():
            return sqlite3.connect("../../top.db")
        def nowhere():
            return sqlite3.connect("../../../outside.db")
    """
    result = scan(tmp_path, {"app/sub/x.py": source})
    got = {n: (one(result, n).store, one(result, n).matched_from) for n in
           ("root_rel", "file_rel", "between", "parent_rel", "nowhere")}  # fmt: skip
    assert got == {
        "root_rel": ("data/tracking.db", "root"),
        "file_rel": ("app/sub/deep.db", "file"),
        "between": ("app/data/local.db", "app"),
        "parent_rel": ("top.db", "file"),
        "nowhere": (None, None),
    }


def test_absolute_paths_inside_root_match(tmp_path: Path) -> None:
    inside = (tmp_path / "data" / "tracking.db").resolve().as_posix()
    source = f"import sqlite3\ndef f():\n    sqlite3.connect({inside!r})\n"
    source += "    sqlite3.connect('/elsewhere/x.db')\n"
    uses = uses_of(scan(tmp_path, {"m.py": source}), "f")
    assert [(u.resolved, u.store, u.matched_from) for u in uses] == [
        ("data/tracking.db", "data/tracking.db", "absolute"),
        ("/elsewhere/x.db", None, None),
    ]


def test_expanduser_is_left_unresolved(tmp_path: Path) -> None:
    source = "import os, sqlite3\ndef f():\n    sqlite3.connect(os.path.expanduser('~/x.db'))\n"
    result = scan(tmp_path, {"m.py": source})
    assert one(result, "f").resolved is None
    assert "os.path.expanduser('~/x.db')" in result.problems[0].message


def test_class_and_instance_attributes(tmp_path: Path) -> None:
    source = """
        import sqlite3

        class A:
            DB_PATH = "data/tracking.db"
            def open(self):
                return sqlite3.connect(self.DB_PATH)

        class B:
            PATH = "data/tracking.db"
            @classmethod
            def open(cls):
                return sqlite3.connect(cls.PATH)

        class C:
            PATH = "data/tracking.db"
            def open(self):
                return sqlite3.connect(C.PATH)

        class D:
            def __init__(self):
                self.db_path = "data/tracking.db"
            def open(self):
                return sqlite3.connect(self.db_path)

        class E:
            def __init__(self, db_path="data/tracking.db"):
                self.conn = sqlite3.connect(db_path)

        class F:
            def __init__(self, db_path=None):
                self.db_path = db_path or "data/tracking.db"
                self.conn = sqlite3.connect(self.db_path)

        class G(A):
            def other(self):
                return sqlite3.connect(self.DB_PATH)
    """
    result = scan(tmp_path, {"m.py": source})
    for name in "ABCDEFG":
        assert one(result, name).store == "data/tracking.db", name
    assert result.problems == ()


def test_imported_constants(tmp_path: Path) -> None:
    opener = "import sqlite3\n{imports}\ndef f():\n{body}    return sqlite3.connect({arg})\n"
    files = {
        "app/__init__.py": "",
        "app/config.py": (
            "import os\nBASE = os.path.dirname(__file__)\n"
            "DB = os.path.join(BASE, '..', 'data', 'tracking.db')\nREL = 'data/tracking.db'\n"
        ),
        "app/settings.py": "from .config import REL as DB_FILE\n",
        "app/one.py": opener.format(imports="from app.config import DB", body="", arg="DB"),
        "app/two.py": opener.format(
            imports="from .settings import DB_FILE", body="", arg="DB_FILE"
        ),
        "app/three.py": opener.format(imports="import app.config as cfg", body="", arg="cfg.REL"),
        "app/four.py": opener.format(imports="import config", body="", arg="config.REL"),
        "app/five.py": opener.format(imports="", body="    from config import DB\n", arg="DB"),
    }
    result = scan(tmp_path, files)
    stores = {i.path: i.stores for i in result.interfaces}
    assert stores == {
        f"app/{n}.py": ("data/tracking.db",) for n in ("one", "two", "three", "four", "five")
    }
    assert result.problems == ()


def test_parameters_are_followed_to_callers(tmp_path: Path) -> None:
    files = {
        "base.py": """
            import sqlite3

            class Base:
                def __init__(self, db_path):
                    self.db_path = db_path

                def connect(self):
                    return sqlite3.connect(self.db_path)

            def open_db(path):
                return sqlite3.connect(path)
        """,
        "trackers.py": """
            from base import Base, open_db

            class Quality(Base):
                def __init__(self, db_path="data/tracking.db"):
                    super().__init__(db_path)

            class Legacy(Base):
                def __init__(self):
                    Base.__init__(self, "app/data/local.db")

            def report():
                return open_db("top.db")

            def broken(name):
                return open_db(name)
        """,
    }
    result = scan(tmp_path, files)
    assert one(result, "Quality").store == "data/tracking.db"
    assert one(result, "Legacy").store == "app/data/local.db"
    assert one(result, "report").store == "top.db"
    # The helpers keep their own (unresolved) uses but are not reported: callers say it all.
    assert one(result, "Base").resolved is None
    # A caller that passes its own parameter on is followed one more step, then reported.
    assert [p.message.split(":")[0] for p in result.problems] == ["trackers.py"]
    assert "`name`" in result.problems[0].message


def test_helper_function_lends_its_store_to_sql_classes(tmp_path: Path) -> None:
    source = """
        import sqlite3

        def get_connection(path="data/tracking.db"):
            return sqlite3.connect(path)

        class Repo:
            def __init__(self):
                self.conn = get_connection()

            def all(self):
                return self.conn.execute("SELECT * FROM actions").fetchall()

        class NoSql:
            def run(self):
                return get_connection()
    """
    result = scan(tmp_path, {"m.py": source})
    repo = next(i for i in result.interfaces if i.name == "Repo")
    assert repo.stores == ("data/tracking.db",) and repo.tables == ("actions",)
    assert repo.uses[0].line == 9
    assert "NoSql" not in {i.name for i in result.interfaces}


def test_shelve_suffixes(tmp_path: Path) -> None:
    source = "import shelve\ndef f():\n    return shelve.open('cache/sessions')\n"
    assert one(scan(tmp_path, {"m.py": source}), "f").store == "cache/sessions.dat"

"""A generated Python project for the code scan's golden test and its benchmark.

:func:`build_code_corpus` writes a package of ``modules`` modules that import each other,
define classes (with bases in other modules) and helper functions, and pass paths around
across modules; a few dozen of them open stores in the ways :mod:`dbfold.scan.code_calls`
knows (direct openers, file handles, JSON Lines, parameters followed through callers,
inherited constructors, SQL-holding callers of helpers, unresolvable and in-memory paths).
The rest is ordinary code whose names (``open``, ``load``, ``connect``, ``__init__``) look
like the openers' without opening anything. The same seed gives the same tree.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["STORE_FILES", "build_code_corpus"]

#: The stores written under ``data/`` (relative POSIX paths).
STORE_FILES = (
    "data/main.db",
    "data/users.db",
    "data/audit.db",
    "data/settings.json",
    "data/events.jsonl",
    "data/people.csv",
)

_CONFIG = '''\
"""Where the data lives."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MAIN_DB = DATA / "main.db"
USERS_DB = os.path.join(str(DATA), "users.db")
AUDIT_DB = os.getenv("AUDIT_DB", "data/audit.db")
SETTINGS = "data/settings.json"
EVENTS = DATA / "events.jsonl"
PEOPLE = "data/people.csv"
STATE = "data/state"
PATHS = {"main": MAIN_DB, "users": USERS_DB}
'''

_BASE = '''\
"""Store classes the rest of the code builds on."""

import sqlite3


class Store:
    """Wraps one SQLite database."""

    def __init__(self, db_path, timeout=5.0):
        self.db_path = db_path
        self.timeout = timeout
        self.con = sqlite3.connect(db_path, timeout=timeout)

    def rows(self, table):
        return self.con.execute(f"SELECT * FROM {table}").fetchall()


class Repo(Store):
    """Items, kept in the database its caller names."""

    def count(self):
        return self.con.execute("SELECT count(*) FROM items").fetchone()[0]


class Opener:
    """Opens databases on demand."""

    def open_db(self, path):
        return sqlite3.connect(path)

    def close(self):
        return None
'''

_HELPERS = '''\
"""Helpers that open the files they are given."""

import csv
import json
import sqlite3


def open_db(path):
    return sqlite3.connect(path)


def relay(path, retries=3):
    return open_db(path)


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_table(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def append_event(path, record):
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\\n")


def main_db():
    return sqlite3.connect("data/main.db")
'''

_PKG_INIT = '''\
"""Package {pkg}."""

import sqlite3


def connect_here(path):
    return sqlite3.connect(path)
'''

# Store-opening snippets added to a few dozen modules; {n} is the module's number.
_OPENERS = (
    (
        "import sqlite3\nfrom proj import config\n",
        "CON_{n} = sqlite3.connect(config.MAIN_DB)\n",
    ),
    (
        "import os\nimport sqlite3\nfrom proj import config\n",
        "class UserStore{n}:\n"
        "    def __init__(self):\n"
        "        self.path = os.path.join(str(config.DATA), 'users.db')\n"
        "        self.con = sqlite3.connect(self.path)\n\n"
        "    def names(self):\n"
        "        return self.con.execute('SELECT name FROM users').fetchall()\n",
    ),
    (
        "import json\nfrom proj import config\n",
        "def events_{n}():\n"
        "    with open(config.EVENTS, encoding='utf-8') as fh:\n"
        "        for line in fh:\n"
        "            yield json.loads(line)\n",
    ),
    (
        "import json\nfrom proj.config import SETTINGS\n",
        "def settings_{n}():\n    return json.load(open(SETTINGS))\n",
    ),
    (
        "import csv\nfrom proj import config\n",
        "def people_{n}():\n"
        "    with open(config.PEOPLE, newline='') as fh:\n"
        "        return list(csv.DictReader(fh))\n",
    ),
    ("import shelve\n", "def state_{n}():\n    return shelve.open('data/state')\n"),
    (
        "from sqlalchemy import create_engine\nfrom proj import config\n",
        "ENGINE_{n} = create_engine(f'sqlite:///{{config.AUDIT_DB}}')\n",
    ),
    ("import pandas as pd\n", "def frame_{n}():\n    return pd.read_csv('data/people.csv')\n"),
    ("import sqlite3\n", "def scratch_{n}():\n    return sqlite3.connect(':memory:')\n"),
    ("import sqlite3\nimport sys\n", "def cli_{n}():\n    return sqlite3.connect(sys.argv[1])\n"),
    (
        "import sqlite3\nfrom pathlib import Path\n",
        "LOCAL_{n} = Path(__file__).parent / 'local_{n}.db'\n\n"
        "def local_{n}():\n    return sqlite3.connect(LOCAL_{n})\n",
    ),
    (
        "import json\n",
        "def log_{n}(record, target='data/events.jsonl'):\n"
        "    with open(target, 'a') as out:\n"
        "        out.write(json.dumps(record) + '\\n')\n",
    ),
    (
        "import pickle\n",
        "def save_{n}(model, where='data/model.pkl'):\n"
        "    with open(where, 'wb') as fh:\n"
        "        pickle.dump(model, fh)\n",
    ),
    (
        "import json\nfrom pathlib import Path\n",
        "def read_settings_{n}():\n    return json.loads(Path('data/settings.json').read_text())\n",
    ),
    (
        "from tinydb import TinyDB\n",
        "class Notes{n}:\n    db = TinyDB('data/notes.json')\n",
    ),
    (
        "import sqlite3\nfrom proj import config\n",
        "def pick_{n}(name='main'):\n    return sqlite3.connect(config.PATHS[name])\n",
    ),
    (
        "import sqlite3\n",
        "def _conn_{n}():\n    return sqlite3.connect('data/audit.db')\n\n"
        "def audit_rows_{n}():\n"
        "    con = _conn_{n}()\n"
        "    return con.execute('SELECT * FROM audit_log ORDER BY at').fetchall()\n",
    ),
    (
        "import dbm\n",
        "def cache_{n}(key):\n"
        "    with dbm.open('data/cache', 'c') as db:\n"
        "        return db.get(key)\n",
    ),
    (
        "import sqlite3\n",
        "def deep_{n}(path):\n    return sqlite3.connect(path)\n\n"
        "def deeper_{n}(path):\n    return deep_{n}(path)\n\n"
        "def deepest_{n}(path):\n    return deeper_{n}(path)\n",
    ),
    (
        "import aiosqlite\n",
        "async def fetch_{n}(path='data/main.db'):\n"
        "    async with aiosqlite.connect(path) as db:\n"
        "        return await db.execute('SELECT id FROM orders')\n",
    ),
)

# Calls that pass a path to something that opens it; {n} is the caller's module number.
_PASSERS = (
    (
        "from proj.storage import helpers\nfrom proj import config\n",
        "helpers.open_db(config.MAIN_DB)",
    ),
    (
        "from proj.storage.helpers import relay\nfrom proj import config\n",
        "relay(config.USERS_DB)",
    ),
    (
        "from proj.storage.helpers import open_db as odb\nfrom proj import config\n",
        "odb(path=config.AUDIT_DB)",
    ),
    ("from proj.storage import helpers\n", "helpers.load_json('data/settings.json')"),
    (
        "from proj.storage import helpers\nfrom proj import config\n",
        "helpers.read_table(config.PEOPLE)",
    ),
    (
        "from proj.storage import helpers\nfrom proj import config\n",
        "helpers.append_event(config.EVENTS, {'n': 1})",
    ),
    ("from proj.storage.base import Repo\nfrom proj import config\n", "Repo(config.AUDIT_DB)"),
    ("from proj.storage import base\n", "base.Store('data/users.db')"),
    ("from proj.storage.helpers import open_db\nimport sys\n", "open_db(sys.argv[2])"),
)

_METHOD_NAMES = ("open", "load", "connect", "read", "save", "run", "close", "update", "render")
_WORDS = ("alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "zeta", "iota")


def build_code_corpus(
    root: Path, *, modules: int = 2000, openers: int = 40, seed: int = 0, stores: bool = True
) -> tuple[str, ...]:
    """Write the project under ``root`` and return the paths of its stores.

    Args:
        root: an empty or missing folder.
        modules: how many ordinary modules (``proj/pNN/mNNNN.py``) to write.
        openers: how many of them also open stores (besides the storage package).
        seed: the generator's seed.
        stores: whether to write the stores themselves (the golden test only needs names).
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    _write(root / "proj/__init__.py", '"""The generated project."""\n')
    _write(root / "proj/config.py", _CONFIG)
    _write(root / "proj/storage/__init__.py", "")
    _write(root / "proj/storage/base.py", _BASE)
    _write(root / "proj/storage/helpers.py", _HELPERS)
    _write(root / "proj/broken.py", "def broken(:\n    pass\n")
    per_pkg = 50
    packages = max(1, (modules + per_pkg - 1) // per_pkg)
    for p in range(packages):
        init = _PKG_INIT if p % 4 == 0 else '"""Package {pkg}."""\n'
        _write(root / f"proj/p{p:02d}/__init__.py", init.format(pkg=f"p{p:02d}"))
    names = [f"proj/p{i // per_pkg:02d}/m{i:04d}.py" for i in range(modules)]
    chosen = {i: k for k, i in enumerate(sorted(rng.sample(range(modules), min(openers, modules))))}
    passers = set(rng.sample(range(modules), min(modules, max(openers, modules // 50))))
    state = _State()
    for i, rel in enumerate(names):
        _write(root / rel, _module(rng, state, i, names, chosen.get(i), i in passers))
    _write(root / "scripts/report.py", _SCRIPT)
    for rel, text in _EXTRAS.items():
        _write(root / rel, text)
    # A file in a declared Latin-1 encoding, and one that is not Python (a NUL byte).
    legacy = "# -*- coding: latin-1 -*-\n# Café\nimport sqlite3\n\n\n"
    legacy += "def legacy():\n    return sqlite3.connect('data/main.db')\n"
    (root / "proj/legacy.py").write_bytes(legacy.encode("latin-1"))
    (root / "proj/nul.py").write_bytes(b"x = 1\x00\n")
    if stores:
        _write_stores(root)
    return STORE_FILES


_SCRIPT = '''\
"""A script run from the root: relative paths start there."""

import sqlite3

from proj.p00 import connect_here

con = sqlite3.connect("data/main.db")
other = connect_here("data/users.db")
print(con.execute("SELECT count(*) FROM orders").fetchone())
'''


@dataclass
class _State:
    """What earlier modules defined that later ones use."""

    mids: list[tuple[str, str]] = field(default_factory=list)  # (module, class) over Repo
    takers: list[tuple[str, str]] = field(default_factory=list)  # (module, path-taking function)
    funcs: dict[str, list[str]] = field(default_factory=dict)  # module → its plain functions


# Fixed files: non-ASCII names, a module in a folder the scan skips but imports follow.
_EXTRAS = {
    "proj/intl.py": (
        "import sqlite3\n\n\n"
        "def öffne(pfad):\n    return sqlite3.connect(pfad)\n\n\n"
        "class Ablage:\n    def __init__(self, pfad):\n        self.con = sqlite3.connect(pfad)\n"
    ),
    "proj/intl_use.py": (
        "from proj import config\nfrom proj.intl import Ablage, öffne\n\n\n"
        "def los():\n    return öffne('data/main.db')\n\n\n"
        "class Unter(Ablage):\n    pass\n\n\n"
        "def mehr():\n    return Unter(config.USERS_DB)\n"
    ),
    "build/generated.py": "GENERATED_DB = 'data/audit.db'\n",
    "proj/uses_build.py": (
        "import sqlite3\n\nfrom build.generated import GENERATED_DB\n\n"
        "con = sqlite3.connect(GENERATED_DB)\n"
    ),
}


def _dotted(rel: str) -> str:
    return rel[: -len(".py")].replace("/", ".")


def _module(
    rng: random.Random,
    state: _State,
    i: int,
    names: list[str],
    opener: int | None,
    passer: bool,
) -> str:
    imports = ["import os", "import re", "from collections import defaultdict"]
    body: list[str] = []
    earlier = names[max(0, i - 120) : i]
    linked = rng.sample(earlier, min(len(earlier), rng.randint(1, 4))) if earlier else []
    aliases: list[tuple[str, str]] = []  # (alias, a function of that module)
    for k, rel in enumerate(linked):
        alias = f"dep{k}"
        imports.append(f"import {_dotted(rel)} as {alias}")
        aliases.append((alias, rng.choice(state.funcs[rel])))
    base_cls = "object"
    if linked and rng.random() < 0.6:
        src = linked[0]
        j = int(src.rpartition("/m")[2][:-3])
        cls = f"Widget{j}"
        imports.append(f"from {_dotted(src)} import {cls}")
        base_cls = cls
    if i % 7 == 3:
        imports.append("from .. import config")
        body.append(f"def where_{i}():\n    return config.DATA\n")
    if i % 23 == 5 and (i // 50) % 4 == 0:  # in a package whose __init__ opens
        imports.append("from . import connect_here")
        body.append(f"def here_{i}():\n    return connect_here('data/users.db')\n")
    body.append(_widget(rng, i, base_cls))
    funcs = []
    for f in range(rng.randint(3, 6)):
        name, text = _function(rng, i, f, aliases)
        funcs.append(name)
        body.append(text)
    state.funcs[names[i]] = funcs
    if opener is not None:  # the k-th opener uses the k-th pattern: all of them appear
        head, snippet = _OPENERS[opener % len(_OPENERS)]
        imports.extend(head.strip().splitlines())
        body.append(snippet.format(n=i))
        if opener % len(_OPENERS) == 18:  # a chain of helpers, called from other modules too
            body.append(f"def start_{i}():\n    return deepest_{i}('data/main.db')\n")
            state.takers.extend((names[i], f"deep{x}_{i}") for x in ("", "er", "est"))
    if passer:
        head, call = _PASSERS[i % len(_PASSERS)]
        imports.extend(head.strip().splitlines())
        body.append(f"def use_{i}():\n    return {call}\n")
        if i % 3 == 0:
            body.append(
                f"def report_{i}():\n"
                f"    rows = use_{i}().execute('SELECT id, total FROM orders').fetchall()\n"
                "    return rows\n"
            )
        if i % 4 == 1:
            imports.append("from proj import config")
            if state.mids:
                rel, cls = state.mids[rng.randrange(len(state.mids))]
                imports.append(f"from {_dotted(rel)} import {cls}")
                body.append(
                    f"class Low{i}({cls}):\n    pass\n\n\n"
                    f"def low_{i}():\n    return Low{i}(config.MAIN_DB)\n"
                )
            imports.append("from proj.storage.base import Repo")
            body.append(f"class Mid{i}(Repo):\n    pass\n")
            state.mids.append((names[i], f"Mid{i}"))
        if i % 5 == 2:
            imports.append("from proj.storage.base import Repo, Store, Opener")
            imports.append("from proj import config")
            body.append(
                f"class Tracked{i}(Repo):\n"
                "    def __init__(self):\n"
                "        super().__init__(config.MAIN_DB)\n\n\n"
                f"class Explicit{i}(Store):\n"
                "    def __init__(self):\n"
                "        Store.__init__(self, config.USERS_DB)\n\n\n"
                f"class Uses{i}(Opener):\n"
                "    def start(self):\n"
                "        return self.open_db(config.AUDIT_DB)\n"
            )
        if i % 5 == 3:
            imports.append("from proj.storage import base")
            body.append(
                f"class Leaf{i}(base.Repo):\n    kind = 'leaf'\n\n\n"
                f"def leaf_{i}(path):\n    return Leaf{i}(path)\n"
            )
            state.takers.append((names[i], f"leaf_{i}"))
        if i % 6 == 1 and state.takers:
            # A caller of a path-taking function of another generated module.
            rel, func = state.takers[rng.randrange(len(state.takers))]
            imports.append(f"from {_dotted(rel)} import {func}")
            target = rng.choice(("'data/users.db'", "config.MAIN_DB", "os.environ['DB']"))
            imports.append("from proj import config")
            body.append(f"def far_{i}():\n    return {func}({target})\n")
    lines = sorted(set(imports), key=lambda s: (not s.startswith("import"), s))
    doc = f'"""Module {i}: part of the generated project (see data/main.db notes)."""\n\n'
    return doc + "\n".join(lines) + "\n\n\n" + "\n\n".join(body)


def _widget(rng: random.Random, i: int, base: str) -> str:
    out = [f"class Widget{i}({base}):", f'    """Widget number {i}."""', ""]
    out.append(f"    LIMIT = {rng.randint(1, 99)}")
    out.append("")
    out.append("    def __init__(self, name, size=3):")
    if base != "object":
        out.append("        super().__init__(name, size)")
    out.append("        self.name = name")
    out.append("        self.size = size")
    out.append("        self.items = {}")
    for method in rng.sample(_METHOD_NAMES, rng.randint(2, 5)):
        out.append("")
        out.append(f"    def {method}(self, key, default=None):")
        out.append("        found = self.items.get(key, default)")
        out.append("        if found is None and self.size > self.LIMIT:")
        out.append(f"            return self.{rng.choice(('name', 'size'))}")
        out.append("        return [x for x in range(self.size) if x % 2] or found")
    return "\n".join(out) + "\n"


def _function(
    rng: random.Random, i: int, f: int, aliases: list[tuple[str, str]]
) -> tuple[str, str]:
    word = rng.choice(_WORDS)
    name = f"{word}_{i}_{f}"
    out = [f"def {name}(values, scale=2, label='{word}'):"]
    out.append(f'    """Compute the {word} of ``values``."""')
    out.append("    total = 0")
    out.append("    seen = defaultdict(int)")
    for _ in range(rng.randint(4, 10)):
        kind = rng.randrange(6)
        if kind == 0:
            out.append("    for k, v in enumerate(values):")
            out.append("        seen[k % 5] += v * scale")
            out.append("        total += v if v > 0 else -v")
        elif kind == 1:
            out.append(f"    name = f'{{label}}-{{total:05d}}-{rng.randint(0, 999)}'")
            out.append("    if re.match(r'^[a-z]+-\\d+', name):")
            out.append("        total += len(name)")
        elif kind == 2:
            out.append("    table = {str(k): v for k, v in seen.items() if v}")
            out.append("    total += sum(table.values()) // (scale or 1)")
        elif kind == 3:
            out.append("    where = os.path.join(label, str(total), 'out.txt')")
            out.append("    total += where.count(os.sep)")
        elif kind == 4 and aliases:
            alias, func = rng.choice(aliases)
            out.append(f"    part, _ = {alias}.{func}(values, scale=scale + 1)")
            out.append("    total += part")
            j = func.split("_")[1]
            out.append(f"    gadget = getattr({alias}, 'Widget{j}')(label)")
            out.append(f"    total += len(str(gadget.{rng.choice(_METHOD_NAMES)}(total)))")
        else:
            out.append("    try:")
            out.append("        total = int(total * 1.5) % 1000003")
            out.append("    except (ValueError, OverflowError):")
            out.append("        total = 0")
    out.append("    return total, dict(seen)")
    return name, "\n".join(out) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _write_stores(root: Path) -> None:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    tables = {
        "main.db": ("orders", "id INTEGER PRIMARY KEY, total REAL"),
        "users.db": ("users", "id INTEGER PRIMARY KEY, name TEXT"),
        "audit.db": ("audit_log", "id INTEGER PRIMARY KEY, at TEXT"),
    }
    for name, (table, columns) in tables.items():
        path = data / name
        if path.exists():
            path.unlink()
        con = sqlite3.connect(path)
        with con:
            con.execute(f"CREATE TABLE {table} ({columns})")
            con.executemany(
                f"INSERT INTO {table} VALUES (?, ?)",
                [(k, f"v{k}" if table != "orders" else k * 1.5) for k in range(50)],
            )
        con.close()
    (data / "settings.json").write_text(json.dumps({"theme": "dark", "retries": 3}))
    (data / "events.jsonl").write_text(
        "".join(json.dumps({"id": k, "kind": "click"}) + "\n" for k in range(50))
    )
    (data / "people.csv").write_text(
        "id,name\n" + "".join(f"{k},p{k}\n" for k in range(50)), encoding="utf-8"
    )

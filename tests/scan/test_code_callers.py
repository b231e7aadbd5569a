"""CallSites: the calls found from the files that can hold them are those a full walk finds.

The oracle walks every module and asks :meth:`CallSites.callees` about every call (what the
scan did before it narrowed the files); for every function any call reaches, the narrowed
search must give the same calls in the same order.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dbfold.scan.code import parse_code
from dbfold.scan.code_callers import CallSites, Key
from dbfold.scan.code_calls import walk_calls
from dbfold.scan.code_corpus import build_code_corpus

TRICKY = {
    "pkg/__init__.py": """
        import sqlite3

        def here(path):
            return sqlite3.connect(path)

        class Root:
            def __init__(self, path):
                self.path = path

            def open_db(self, path):
                return sqlite3.connect(path)
    """,
    "pkg/sub/__init__.py": "",
    "pkg/sub/deep.py": """
        from .. import here, Root
        from ... import top_level
        from pkg import Root as R

        def use():
            return here("a.db")

        class Mid(Root):
            pass

        class Mid2(R):
            def open_db(self, path):  # overrides: its subclasses do not reach Root's
                return super().open_db(path)

        def make():
            return Mid("b.db"), Mid2("c.db")
    """,
    "pkg/sub/relative.py": """
        from .. import here

        def f():
            return here("q.db")
    """,
    "pkg/sub/leaf.py": """
        import pkg.sub.deep as d
        from pkg.sub import deep

        class Leaf(d.Mid):
            def go(self):
                return self.open_db("d.db")

        class Leaf2(deep.Mid2):
            def go(self):
                self.__init__("e.db")
                return self.open_db("f.db")

        def make():
            d.Mid.__init__(Leaf(), "g.db")
            return Leaf("h.db"), deep.use(), d.make()

        class Outer:
            class Inner(d.Mid):
                def go(self):
                    return self.open_db("i.db")
    """,
    "other.py": """
        import pkg
        from pkg import here as h
        from pkg.sub.leaf import Leaf

        def call():
            h("j.db")
            pkg.here("k.db")
            pkg.Root.open_db(None, "l.db")
            Leaf("m.db").go()

        def öffne(pfad):
            return pkg.here(pfad)

        def los():
            return öffne("n.db")
    """,
    "unrelated.py": """
        def here(path):  # same name, another module: calls of it are not pkg's here
            return path

        class Root:
            def open_db(self, path):
                return path

        def call():
            here("o.db")
            Root().open_db("p.db")
    """,
    "build/outside.py": "from pkg import Root\n\nclass Ghost(Root):\n    pass\n",
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")


def _where(sites: list[tuple[object, ...]]) -> list[tuple[str, int, int, bool]]:
    return [(m.rel, c.lineno, c.col_offset, s) for m, _, c, s in sites]  # type: ignore[attr-defined]


def _check(root: Path) -> int:
    code = parse_code(root, workers=0)
    oracle = CallSites(code.index, code.files, code.names)
    everything: dict[Key, list[tuple[object, ...]]] = {}
    for path in code.files:
        mod = code.index.load(path)
        assert mod is not None
        for call, site in walk_calls(mod):
            for key, skip_self in oracle.callees(call, mod, site):
                everything.setdefault(key, []).append((mod, site, call, skip_self))
    assert everything
    narrowed = CallSites(code.index, code.files, code.names)
    keys = sorted(everything)
    got = narrowed.sites(keys)
    for key in keys:
        assert _where(got[key]) == _where(everything[key]), key
    # One at a time too (what later rounds of parameter following ask).
    for key in keys[:: max(1, len(keys) // 40)]:
        alone = CallSites(code.index, code.files, code.names).sites([key])
        assert _where(alone[key]) == _where(everything[key]), key
    return len(keys)


def test_tricky_references_are_all_found(tmp_path: Path) -> None:
    _write(tmp_path, TRICKY)
    assert _check(tmp_path) >= 8


def test_generated_project_calls_are_all_found(tmp_path: Path) -> None:
    build_code_corpus(tmp_path, modules=120, openers=30, seed=3, stores=False)
    assert _check(tmp_path) > 50


def test_dbfold_own_calls_are_all_found() -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    if not (src / "dbfold").is_dir():
        pytest.skip("no source tree")
    assert _check(src) > 200


def test_a_subclass_in_a_skipped_folder_is_followed(tmp_path: Path) -> None:
    from dbfold.scan.code import find_interfaces

    _write(
        tmp_path,
        {
            "pkg/__init__.py": """
                import sqlite3

                class Root:
                    def __init__(self, path):
                        self.con = sqlite3.connect(path)
            """,
            "build/outside.py": "from pkg import Root\n\n\nclass Ghost(Root):\n    pass\n",
            "app.py": """
                from build.outside import Ghost

                def start():
                    return Ghost("data/a.db")
            """,
        },
    )
    found = find_interfaces(tmp_path, ["data/a.db"])
    assert [i.name for i in found.interfaces if "data/a.db" in i.stores] == ["start"]

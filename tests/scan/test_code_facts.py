"""The code scan's first pass: its shortcuts never drop what a full look finds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbfold.scan.code import iter_python_files, parse_code
from dbfold.scan.code_calls import find_openings, used_names, walk_calls, walk_sites
from dbfold.scan.code_corpus import build_code_corpus
from dbfold.scan.code_facts import (
    Names,
    gather_facts,
    identifiers,
    in_filter,
    might_open,
    name_filter,
    searchable,
)
from dbfold.scan.code_index import build_module

SRC = Path(__file__).resolve().parents[2] / "src"

ODD = {
    # NFKC: Python reads the fullwidth ｊｓｏｎ as json, and ｃｏｎｎｅｃｔ as connect.
    "fullwidth.py": (
        "import sqlite3 as ｊｓｏｎ\n\ndef f():\n    return ｊｓｏｎ.ｃｏｎｎｅｃｔ('a.db')\n"
    ),
    "names.py": (
        "def öffne(pfad):\n    return pfad\n\nclass Ablage:  # « comment »\n    x = öffne('ü')\n"
    ),
    "devanagari.py": "def क्षत्र(x):\n    return x\n\nक्षत्र(1)\n",
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[bytes, ast.Module, str]]:
    """(source, tree, relative name) of the generated project, dbfold's own code and oddities."""
    root = tmp_path_factory.mktemp("facts")
    build_code_corpus(root / "corpus", modules=80, openers=40, seed=5, stores=False)
    for rel, text in ODD.items():
        (root / rel).write_text(text, encoding="utf-8")
    (root / "latin.py").write_bytes("# -*- coding: latin-1 -*-\nnaïve = 1\n".encode("latin-1"))
    found = []
    for base in (root, SRC):
        for path in iter_python_files(base):
            data = path.read_bytes()
            try:
                tree = ast.parse(data)
            except (SyntaxError, ValueError):
                continue
            found.append((data, tree, path.relative_to(base).as_posix()))
    return found


def test_every_identifier_is_among_the_words(modules: list[tuple[bytes, ast.Module, str]]) -> None:
    for data, tree, rel in modules:
        words = identifiers(searchable(data))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.alias):
                names = [*node.name.split("."), *([node.asname] if node.asname else [])]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = node.module.split(".")
            for name in names:
                assert name.encode() in words, (rel, name)


def test_every_file_with_an_opener_might_open(
    modules: list[tuple[bytes, ast.Module, str]],
) -> None:
    openers = 0
    for data, tree, rel in modules:
        module = build_module(Path(rel), rel, tree)
        if next(iter(find_openings(module)), None) is not None:
            openers += 1
            assert might_open(identifiers(searchable(data)), rel), rel
    assert openers > 30


def test_walk_calls_is_walk_sites_calls(modules: list[tuple[bytes, ast.Module, str]]) -> None:
    for _, tree, rel in modules:
        module = build_module(Path(rel), rel, tree)
        full = [(id(n), s) for n, s in walk_sites(module) if isinstance(n, ast.Call)]
        assert [(id(n), s) for n, s in walk_calls(module)] == full, rel


def test_ancestors_are_the_parents(modules: list[tuple[bytes, ast.Module, str]]) -> None:
    for _, tree, rel in modules[:60]:
        module = build_module(Path(rel), rel, tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Call)):
                chain: list[ast.AST] = []
                above = module.parent(node)
                while above is not None:
                    chain.append(above)
                    above = module.parent(above)
                assert module.ancestors(node) == chain[::-1]


def test_used_names_hold_every_call_name(modules: list[tuple[bytes, ast.Module, str]]) -> None:
    for _, tree, rel in modules:
        module = build_module(Path(rel), rel, tree)
        used = used_names(module)
        for call, _ in walk_calls(module):
            if isinstance(call.func, ast.Attribute):
                assert call.func.attr in used
            elif isinstance(call.func, ast.Name):
                assert call.func.id in used


@given(st.sets(st.text(min_size=1, max_size=12), max_size=300), st.text(max_size=12))
def test_a_name_filter_never_forgets(words: set[str], other: str) -> None:
    encoded = {w.encode("utf-8", "surrogatepass") for w in words}
    bits = name_filter(encoded)
    assert all(in_filter(bits, w) for w in encoded)
    assert isinstance(in_filter(bits, other.encode("utf-8", "surrogatepass")), bool)


def test_a_name_filter_is_small_and_selective() -> None:
    words = {f"name_{i}".encode() for i in range(1000)}
    bits = name_filter(words)
    assert len(bits) <= 2 * len(words)
    strangers = sum(in_filter(bits, f"other_{i}".encode()) for i in range(10000))
    assert strangers < 300  # about 1 in 70 expected


def test_names_answer_per_file() -> None:
    names = Names([name_filter({b"a", b"b"}), name_filter({b"c"})], [name_filter({b"c"})] * 2)
    assert 0 in names.spelling("a") and 1 in names.spelling("c") and 0 in names.using("c")


def test_facts_in_workers_are_the_facts_here(tmp_path: Path) -> None:
    build_code_corpus(tmp_path, modules=60, openers=20, seed=2, stores=False)
    paths = [*iter_python_files(tmp_path), tmp_path / "missing.py"]
    here = gather_facts(tmp_path, paths, workers=0)
    assert gather_facts(tmp_path, paths, workers=1) == here
    assert gather_facts(tmp_path, paths, workers=2) == here
    problem = here[-1][0]
    assert problem is not None and "missing.py: cannot read" in problem.message
    assert sum(opens for _, opens, _, _ in here) >= 20


def test_parse_code_keeps_no_trees(tmp_path: Path) -> None:
    build_code_corpus(tmp_path, modules=30, openers=10, seed=4, stores=False)
    code = parse_code(tmp_path, workers=0)
    assert len(code.files) == len(list(iter_python_files(tmp_path))) - 2  # broken, nul
    assert {p.name for p in code.openers} >= {"helpers.py", "base.py"}
    assert all(isinstance(p, Path) for p in code.files)

"""Golden: the interfaces and problems found in a generated project do not change.

``test_code_golden.json`` was recorded with the code scan as it was before the scan was
rebuilt for speed (issue 12: a first pass in worker processes, only the files that can
matter read closely, calls found from the files that can hold them). To record it again,
on purpose, with the code under ``PYTHONPATH``::

    python tests/scan/test_code_golden.py --record
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from dbfold.scan.code import find_interfaces, parse_code
from dbfold.scan.code_corpus import STORE_FILES, build_code_corpus
from dbfold.scan.code_index import ProjectIndex

GOLDEN = Path(__file__).with_name("test_code_golden.json")
CORPUS: dict[str, int] = {"modules": 160, "openers": 40, "seed": 1}


def found(root: Path, *, keep: int | None = None, **parse: Any) -> dict[str, Any]:
    """What the scan finds under ``root``, as JSON-able data with the root left out.

    ``keep``: how many modules the index holds (others are parsed again when needed).
    """
    if parse or keep is not None:
        code = parse_code(root, **parse)
        if keep is not None:
            code = dataclasses.replace(code, index=ProjectIndex(code.index.root, keep=keep))
        result = find_interfaces(root, STORE_FILES, parsed=code)
    else:
        result = find_interfaces(root, STORE_FILES)
    data = {
        "interfaces": [i.to_dict() for i in result.interfaces],
        "problems": [p.to_dict() for p in result.problems],
    }
    text = json.dumps(data, indent=1, ensure_ascii=False).replace(str(root.resolve()), "<root>")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    build_code_corpus(root, stores=False, **CORPUS)
    return root


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


def _diff(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for part in ("interfaces", "problems"):
        a = {json.dumps(x, sort_keys=True) for x in got[part]}
        b = {json.dumps(x, sort_keys=True) for x in want[part]}
        out += [f"{part} extra: {x}" for x in sorted(a - b)]
        out += [f"{part} missing: {x}" for x in sorted(b - a)]
    return out


def test_the_golden_covers_every_way_of_finding_a_store(golden: dict[str, Any]) -> None:
    uses = [u for i in golden["interfaces"] for u in i["uses"]]
    apis = {u["api"] for u in uses}
    assert {"sqlite3.connect", "json.load", "jsonl", "csv.DictReader", "shelve.open"} <= apis
    assert {"sqlalchemy.create_engine", "pandas.read_csv", "pickle.dump", "dbm.open"} <= apis
    assert {u["matched_from"] for u in uses} >= {"root", "file", None}
    names = {i["name"] for i in golden["interfaces"]}
    # Parameters followed across modules: constructors, super(), helpers, non-ASCII names.
    assert any(n.startswith("Tracked") for n in names) and any(n.startswith("low_") for n in names)
    assert {"los", "mehr", "proj.uses_build", "legacy"} <= names
    assert any("not valid Python" in p["message"] for p in golden["problems"])
    assert any("cannot resolve" in p["message"] for p in golden["problems"])


def test_serial_scan_matches_the_golden(corpus: Path, golden: dict[str, Any]) -> None:
    got = found(corpus, workers=0)
    assert _diff(got, golden) == []
    assert got == golden  # the same order too


def test_scan_with_worker_processes_matches_the_golden(
    corpus: Path, golden: dict[str, Any]
) -> None:
    assert found(corpus, workers=1) == golden


def test_a_one_module_index_matches_the_golden(corpus: Path, golden: dict[str, Any]) -> None:
    assert found(corpus, keep=1, workers=0) == golden


def test_default_scan_matches_the_golden(corpus: Path, golden: dict[str, Any]) -> None:
    assert found(corpus) == golden


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        build_code_corpus(Path(tmp), stores=False, **CORPUS)
        data = found(Path(tmp))
    GOLDEN.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(data['interfaces'])} interfaces, {len(data['problems'])} problems")

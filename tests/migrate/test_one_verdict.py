"""Issue 11 item 2: analyze and migrate give one verdict on what a JSON file holds.

Inputs in the style of JSONTestSuite (https://github.com/nst/JSONTestSuite), written here by
hand: valid ``y_`` cases migrate with every value intact, invalid ``n_`` cases are reported by
analyze as not migratable, excluded by design, and skipped by migrate (dry run and run) with
the very same one-line message, never a traceback.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

#: Every not-migratable verdict says this (dbfold.scan.json_verdict.NOT_MIGRATED).
NOT_MIGRATED = "the file will not be migrated"

#: The value of field ``v`` of a one-record store; each must arrive as json reads it.
Y_VALUES = {
    "y_number_negative_zero": "-0",
    "y_number_negative_int": "-123",
    "y_number_real_capital_e": "1E22",
    "y_number_real_fraction_exponent": "123.456e78",
    "y_number_simple_real": "123.456789",
    "y_number_int_max_i64": "9223372036854775807",
    "y_string_unicode_escape": r'"\u0061\u30af\u30EA\u30b9"',
    "y_string_surrogates_U+1D11E": r'"\uD834\uDd1e"',
    "y_string_utf8": '"€𝄞"',
    "y_string_allowed_escapes": r'"\"\\\/\b\f\n\r\t"',
    "y_string_escaped_control_character": r'"\u0012"',
    "y_string_nonCharacterInUTF-8_U+FFFF": '"\uffff"',
    "y_literal_true": "true",
    "y_literal_null": "null",
}

#: Whole stores (arrays of objects, id → object maps) and the records they hold.
Y_STORES = {
    "y_object_empty_key": ('[{"":1, "v": 2}]', 1),
    "y_structure_whitespace_array": (' \n\t[ {"v" : 1} , {"v":2} ]\r\n ', 2),
    "y_object_map_of_records": ('{"1": {"v": 1}, "2": {"v": 2}, "3": {"v": 3}}', 3),
    "y_bom_utf8": ('\ufeff[{"v": 1}]', 1),
}

#: Invalid files: none may be migrated, in part or whole.
N_CASES = {
    "n_array_trailing_comma": "[1,]",
    "n_array_extra_comma": '[{"v": 1},,]',
    "n_object_trailing_comma": '[{"id":0,}]',
    "n_object_single_quote": "[{'a':0}]",
    "n_object_unquoted_key": '[{a: "b"}]',
    "n_string_unescaped_tab": '[{"v": "a\tb"}]',
    "n_string_invalid_backslash_esc": r'[{"v": "\a"}]',
    "n_string_single_quote": "['single quote']",
    "n_number_with_leading_zero": '[{"v": 012}]',
    "n_number_plus_1": '[{"v": +1}]',
    "n_number_hex_1_digit": '[{"v": 0x1}]',
    "n_incomplete_true": '[{"v": tru}]',
    "n_structure_unclosed_array": '[{"v": 1}',
    "n_structure_array_with_unclosed_string": '[{"v": "asd}]',
    "n_object_missing_value": '{"a":',
    "n_structure_lone_open_bracket": "[",
    "n_structure_trailing_#": '[{"a":"b"}]#{}',
    "n_array_comma_after_close": '[{"a": 1}],',
    "n_structure_close_unopened_array": "1]",
    "n_structure_object_with_trailing_garbage": '{"1": {"a": true}} "x"',
    "i_trailing_value": '[{"a": 1}] [{"a": 2}]',
    "i_structure_100000_deep": "[" * 100_000 + "]" * 100_000,
    "i_top_level_number": "5",
    "i_top_level_null": "null",
    "i_string_lone_surrogate": r'[{"v": "\ud800"}]',
}

#: The valid content a store had when it was analysed and designed (longer than any case).
BEFORE = '[{"v": "' + "x" * 200 + '"}]'


def _prepare(root: Path) -> tuple[Plan, Analysis]:
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return plan, analysis


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        p = root / name
        if isinstance(body, str):
            p.write_text(body, encoding="utf-8")
        else:
            p.write_bytes(body)


def _store_errors(analysis: Analysis, path: str) -> list[str]:
    (store,) = [s for s in analysis.stores if s.path == path]
    return [p.message for p in store.problems if p.severity == "error"]


def _errors(report: Any, path: str) -> list[str]:
    return [p.message for p in report.problems if p.path == path and p.severity == "error"]


def _rows(db: Path, plan: Plan, store: str) -> list[dict[str, Any]]:
    (table,) = [t for t in plan.tables if any(s.store == store for s in t.sources)]
    with closing(sqlite3.connect(db)) as con:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(f'SELECT * FROM "{table.name}"')]


def _planned(plan: Plan, store: str) -> bool:
    return any(s.store == store for t in plan.tables for s in t.sources)


def _analysed_message(tmp_path: Path, body: str | bytes) -> str:
    """What analyze says about a file with ``body``: its one error, one line."""
    root = tmp_path / "judged"
    _write(root, {"case.json": body})
    errors = _store_errors(analyze(root), "case.json")
    assert len(errors) == 1, errors
    assert "\n" not in errors[0] and NOT_MIGRATED in errors[0], errors[0]
    return errors[0]


def test_trailing_data_is_refused_by_analyze_design_and_migrate(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(root, {"trail.json": '[{"a": 1}] trailing', "ok.json": '[{"a": 1}, {"a": 2}]'})
    plan, analysis = _prepare(root)
    (message,) = _store_errors(analysis, "trail.json")
    assert NOT_MIGRATED in message and "line 1, column 12" in message
    assert "remove the trailing data" in message
    assert any(e.store == "trail.json" and e.reason == message for e in plan.excluded)
    assert not _planned(plan, "trail.json")
    dry = migrate(plan, analysis, root)
    assert not any("trail.json" in op for t in dry.tables for op in t.operations)
    assert not _errors(dry, "trail.json")
    done = migrate(plan, analysis, root, execute=True)
    assert {s.store for s in done.sources} == {"ok.json"}
    assert done.verify is not None and done.verify.ok


@pytest.mark.parametrize("name", sorted(N_CASES))
def test_invalid_file_one_message_everywhere(tmp_path: Path, name: str) -> None:
    body = N_CASES[name]
    message = _analysed_message(tmp_path, body)
    # analysed as is: design leaves it out with analyze's message
    root = tmp_path / "proj"
    _write(root, {"case.json": body, "ok.json": '[{"a": 1}]'})
    plan, analysis = _prepare(root)
    assert not _planned(plan, "case.json")
    reasons = [e.reason for e in plan.excluded if e.store == "case.json"]
    assert reasons and all(NOT_MIGRATED in r for r in reasons), reasons
    done = migrate(plan, analysis, root, execute=True)
    assert done.verify is not None and done.verify.ok
    # broken after the plan was made: migrate reads it and says what analyze says
    later = tmp_path / "later"
    _write(later, {"case.json": BEFORE, "ok.json": '[{"a": 1}]'})
    plan, analysis = _prepare(later)
    assert _planned(plan, "case.json")
    (later / "case.json").write_text(body, encoding="utf-8")
    dry = migrate(plan, analysis, later)
    assert _errors(dry, "case.json") == [message]
    run = migrate(plan, analysis, later, execute=True)
    assert _errors(run, "case.json") == [message]
    assert [s.status for s in run.sources if s.store == "case.json"] == ["skipped"]
    assert _rows(later / plan.target, plan, "ok.json") == [{"a": 1}]


def test_valid_values_arrive_intact(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    files: dict[str, str | bytes] = {f"{n}.json": f'[{{"v": {v}}}]' for n, v in Y_VALUES.items()}
    files.update({f"{n}.json": body for n, (body, _rows) in Y_STORES.items()})
    _write(root, files)
    plan, analysis = _prepare(root)
    assert not [p for s in analysis.stores for p in s.problems], analysis.stores
    assert not plan.excluded
    done = migrate(plan, analysis, root, execute=True)
    assert not _errors(done, ""), done.problems
    assert not [p for p in done.problems if p.severity == "error"], done.problems
    assert done.verify is not None and done.verify.ok
    db = root / plan.target
    for n, v in Y_VALUES.items():
        want = json.loads(v)
        want = int(want) if isinstance(want, bool) else want
        ((got,),) = [tuple(r.values()) for r in _rows(db, plan, f"{n}.json")]
        assert got == want and type(got) is type(want), (n, got, want)
        if isinstance(want, float):
            assert math.copysign(1, got) == math.copysign(1, want)
    for n, (body, count) in Y_STORES.items():
        rows = _rows(db, plan, f"{n}.json")
        assert len(rows) == count, (n, rows)
        values = sorted(r.get("v") for r in rows)
        doc = json.loads(body.lstrip("\ufeff"))
        recs = doc.values() if isinstance(doc, dict) else doc
        assert values == sorted(r["v"] for r in recs), (n, rows)


def test_nan_and_infinity_warn_and_arrive_as_the_warning_says(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(
        root,
        {
            "nan.json": '[{"a": NaN, "b": 1}, {"a": Infinity, "b": 2}, {"a": -Infinity, "b": 3}]',
            "scalars.json": "[NaN, 1.5, Infinity]",
        },
    )
    plan, analysis = _prepare(root)
    for path in ("nan.json", "scalars.json"):
        (store,) = [s for s in analysis.stores if s.path == path]
        (problem,) = store.problems
        assert problem.severity == "warning"
        assert "NaN arrives as NULL" in problem.message and "±Infinity as ±Inf" in problem.message
        assert store.rows == 3
    done = migrate(plan, analysis, root, execute=True)
    assert not [p for p in done.problems if p.severity == "error"], done.problems
    db = root / plan.target
    rows = sorted(_rows(db, plan, "nan.json"), key=lambda r: r["b"])
    assert [r["a"] for r in rows] == [None, math.inf, -math.inf]
    values = [next(iter(r.values())) for r in _rows(db, plan, "scalars.json")]
    assert sorted(values, key=repr) == sorted([None, 1.5, math.inf], key=repr)


def test_duplicate_keys_last_one_wins_and_analyze_says_so(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(root, {"dup.json": '[{"a": 1, "b": 1, "a": 2}, {"a": 3, "b": 2}]'})
    plan, analysis = _prepare(root)
    ((store,),) = [[s for s in analysis.stores if s.path == "dup.json"]]
    (problem,) = store.problems
    assert problem.severity == "warning"
    assert "duplicate key 'a'" in problem.message and "last value wins" in problem.message
    done = migrate(plan, analysis, root, execute=True)
    assert done.verify is not None and done.verify.ok
    rows = sorted(_rows(root / plan.target, plan, "dup.json"), key=lambda r: r["b"])
    assert [r["a"] for r in rows] == [2, 3]


def test_utf16_with_bom_is_not_migrated_by_either(tmp_path: Path) -> None:
    body = '[{"a": 1}]'.encode("utf-16")
    root = tmp_path / "proj"
    _write(root, {"u.json": body, "ok.json": '[{"a": 1}]'})
    plan, analysis = _prepare(root)
    (message,) = _store_errors(analysis, "u.json")
    assert "UTF-16" in message
    assert not _planned(plan, "u.json")
    assert migrate(plan, analysis, root, execute=True).verify is not None
    later = tmp_path / "later"
    _write(later, {"u.json": BEFORE})
    plan, analysis = _prepare(later)
    (later / "u.json").write_bytes(body)
    for execute in (False, True):
        (got,) = _errors(migrate(plan, analysis, later, execute=execute), "u.json")
        assert "UTF-16" in got and NOT_MIGRATED in got and "\n" not in got


def test_cli_reproduction_of_the_issue(tmp_path: Path) -> None:
    root = tmp_path / "v"
    _write(
        root,
        {
            "trail.json": '[{"a": 1}] trailing',
            "nan.json": '[{"a": NaN, "b": 1}, {"a": 2.5, "b": 2}]',
        },
    )
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    outs = []
    for args in (
        ["analyze", "."],
        ["design", "-q", "."],
        ["migrate", "."],
        ["migrate", "--execute", "."],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "dbfold", *args],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=root,
            env=env,
        )
        out = done.stdout + done.stderr
        assert "Traceback" not in out and "right here" not in out, out
        outs.append(out)
    analysed = [line for line in outs[0].splitlines() if "trail.json:" in line]
    assert len(analysed) == 1 and NOT_MIGRATED in analysed[0], outs[0]
    # The run copies nothing of it and says, once, that the plan leaves it out.
    flat = " ".join(outs[3].split())
    assert flat.count("trail.json is excluded in .dbfold/plan.json and not migrated") == 1, flat
    assert " trail copied" not in flat and " trail trail " not in flat, flat
    with closing(sqlite3.connect(root / "data/unified.db")) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "nan" in tables and "trail" not in tables


def test_invalid_utf8_is_read_as_the_warning_says(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(root, {"bad.json": b'[{"name": "caf\xe9", "n": 1}, {"name": "ok", "n": 2}]'})
    plan, analysis = _prepare(root)
    (store,) = analysis.stores
    (problem,) = store.problems
    assert problem.severity == "warning" and "U+FFFD" in problem.message
    done = migrate(plan, analysis, root, execute=True)
    assert not [p for p in done.problems if p.severity == "error"], done.problems
    rows = sorted(_rows(root / plan.target, plan, "bad.json"), key=lambda r: r["n"])
    assert [r["name"] for r in rows] == ["caf\ufffd", "ok"]

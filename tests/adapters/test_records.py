"""JsonStore and JsonlLog: the sample project's JSON files written through them and read back
as the files held them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from adapters_support import create_unified

from dbfold.adapters import JsonlLog, JsonStore
from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.errors import AdapterError
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Analysis, Plan]:
    root = tmp_path_factory.mktemp("records") / "project"
    build_sample_project(root, scale=0.01, seed=7)
    analysis = analyze(root)
    return root, analysis, _nullable(design(analysis))


def _nullable(plan: Plan) -> Plan:
    # design marks `seo.score` NOT NULL although 14 of 20 articles have no `seo` object
    # (reported to the design stage); the adapters are tested on a plan without that.
    data = plan.to_dict()
    for table in data["tables"]:
        for col in table["columns"]:
            if not col["primary_key"]:
                col["nullable"] = True
    return Plan.from_dict(data)


def _strip_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def test_jsonl_log_round_trip(sample: tuple[Path, Analysis, Plan], tmp_path: Path) -> None:
    root, analysis, plan = sample
    target = tmp_path / "u.db"
    create_unified(plan, target)
    lines = (root / "logs" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    with JsonlLog("logs/events.jsonl", plan, target, analysis=analysis) as log:
        for event in events:
            log.append(event)
        assert len(log) == len(events)
        assert list(log.read()) == [_strip_nulls(e) for e in events]
        with pytest.raises(AdapterError, match="no column"):
            log.append({"surprise": 1})


def test_json_list_with_nested_arrays(sample: tuple[Path, Analysis, Plan], tmp_path: Path) -> None:
    root, analysis, plan = sample
    target = tmp_path / "u.db"
    create_unified(plan, target)
    articles = json.loads((root / "data" / "articles.json").read_text(encoding="utf-8"))
    with JsonStore("data/articles.json", plan, target, analysis=analysis) as store:
        for article in articles:
            store.append(article)
        assert store.load() == [_strip_nulls(a) for a in articles]
        assert len(store) == len(articles)


def test_json_mapping(sample: tuple[Path, Analysis, Plan], tmp_path: Path) -> None:
    root, analysis, plan = sample
    users = json.loads((root / "data" / "users.json").read_text(encoding="utf-8"))
    for name, with_analysis in (("u.db", analysis), ("v.db", None)):
        # the layout comes from the analysis, and is inferred from the plan without it
        target = tmp_path / name
        create_unified(plan, target)
        store = JsonStore("data/users.json", plan, target, analysis=with_analysis)
        for key, user in users.items():
            store[key] = user
        assert store.load() == _strip_nulls(users)
        first = next(iter(users))
        assert store[first] == _strip_nulls(users[first])
        del store[first]
        assert first not in store
        with pytest.raises(AdapterError):
            store.append({"name": "x"})
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_json_store_opened_before_fork_is_refused_in_the_child(
    sample: tuple[Path, Analysis, Plan], tmp_path: Path
) -> None:
    # A forked child has none of SQLite's locks on the parent's connection (§2.7).
    root, analysis, plan = sample
    target = tmp_path / "u.db"
    create_unified(plan, target)
    first = (root / "logs" / "events.jsonl").read_text(encoding="utf-8").splitlines()[0]
    log = JsonlLog("logs/events.jsonl", plan, target, analysis=analysis)
    before = len(log)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            log.append(json.loads(first))
            answer = "ok"
        except Exception as exc:
            answer = f"{type(exc).__name__}: {exc}"
        log.close()  # forgotten, not closed
        os.write(write_end, answer.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    assert answer.startswith("ForkedConnectionError: "), answer
    assert "opened before fork" in answer and "spawn" in answer
    assert len(log) == before
    log.close()

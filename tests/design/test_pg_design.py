"""``design`` for a PostgreSQL target: types from the values seen, names that fit in 63
bytes, default decisions, the user's edits kept, sources untouched, and the DDL runs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from dbfold.cli import cli
from dbfold.design import design, probe_sources
from dbfold.design.options import DesignOptions
from dbfold.design.pg_render import render_postgres
from dbfold.design.pg_types import pg_parse_timestamp
from dbfold.design.probe_pg import probe_pg_types
from dbfold.plan import Plan, PlanColumn
from dbfold.scan import analyze

URL = "postgresql://postgres@127.0.0.1:5432/unified"
LONG = "a_table_name_that_goes_on_and_on_well_past_what_postgres_keeps_x"  # 64 bytes


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dbfold" not in p.parts
    }


def _sqlite(path: Path, script: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    con.close()


def make_project(root: Path) -> Path:
    _sqlite(
        root / "app.db",
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            n INTEGER,
            mixed INTEGER,
            ratio REAL,
            price NUMERIC(10,2),
            loose NUMERIC(6,2),
            flag BOOLEAN DEFAULT 0,
            bad_flag BOOLEAN,
            at_iso DATETIME DEFAULT CURRENT_TIMESTAMP,
            at_s TIMESTAMP,
            at_ms TIMESTAMP,
            at_bad DATETIME,
            at_julian DATETIME,
            created TEXT DEFAULT (datetime('now')),
            local_at DATETIME DEFAULT (datetime('now', 'localtime')),
            doc JSON,
            bad_doc JSON,
            raw BLOB,
            anything
        );
        INSERT INTO events (n, mixed, ratio, price, loose, flag, bad_flag, at_iso, at_s, at_ms,
                            at_bad, at_julian, doc, bad_doc, raw, anything) VALUES
          (1, 1, 0.5, 1.25, 1.5, 1, 1, '2024-01-02 03:04:05', 1700000000, 1700000000123,
           '2024-01-02', 2460000.5, '{"a": 1}', '{"a": 1}', x'00ff', 7),
          (2, 'abc', 2, 10.5, 3.14159, 0, 2, '2024-01-03T00:00:00Z', 1700000001,
           1700000000456, 'soon', 2460001.5, '[1, 2]', 'not json', x'01', 8),
          (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL);
        """,
    )
    _sqlite(
        root / "long.db",
        f"""
        CREATE TABLE {LONG} (id INTEGER PRIMARY KEY, {LONG} TEXT, {LONG}2 TEXT);
        CREATE INDEX {LONG}_idx ON {LONG} ({LONG});
        CREATE INDEX {LONG}_idy ON {LONG} ({LONG}2);
        INSERT INTO {LONG} VALUES (1, 'x', 'y');
        CREATE TABLE "order" ("Select" INTEGER PRIMARY KEY, "we""ird" TEXT, "ünï" TEXT);
        INSERT INTO "order" VALUES (1, 'q', 'u');
        """,
    )
    lines = [
        {
            "id": 1,
            "ts": "2024-01-01T00:00:00Z",
            "when": "2024-01-01",
            "big": 12345678901234567890123,
        },
        {"id": 2, "ts": "2024-01-02T10:00:00+02:00", "when": "2024-01-02", "big": 5},
    ]
    # analyze samples the first 200 values of a field: the value that is no timestamp
    # comes after them, so only the probe, which reads every value, finds it.
    lines += [
        {
            "id": i,
            "ts": "2024-01-03T00:00:00Z",
            "when": "soon" if i == 250 else "2024-01-03",
            "big": i,
        }
        for i in range(3, 300)
    ]
    (root / "log.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    (root / "people.csv").write_text(
        "id,name,joined_at,score\n1,Ann,2024-01-01,1.5\n2,Bob,2024-02-01 10:00,2\n"
    )
    return root


def _types(plan: Plan, table: str) -> dict[str, str | None]:
    t = plan.table(table)
    assert t is not None
    return {c.name: c.pg_type for c in t.columns}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def test_types_from_the_values(project: Path) -> None:
    analysis = analyze(project)
    before = _digest(project)
    plan = probe_sources(design(analysis, options=DesignOptions(target=URL)), analysis, project)
    assert _digest(project) == before  # sources only read, nothing beside them
    assert not list(project.glob("*-shm")) and not list(project.glob("*-wal"))
    got = _types(plan, "events")
    assert got == {
        "id": "bigint",
        "n": "bigint",
        "mixed": "text",
        "ratio": "double precision",
        "price": "numeric(10,2)",
        "loose": "numeric",
        "flag": "boolean",
        "bad_flag": "bigint",
        "at_iso": "timestamptz",
        "at_s": "timestamptz",
        "at_ms": "timestamptz",
        "at_bad": "text",
        "at_julian": "double precision",
        "created": "text",
        "local_at": "timestamptz",
        "doc": "jsonb",
        "bad_doc": "text",
        "raw": "bytea",
        "anything": "bigint",
    }
    said: dict[str, str] = {}
    for d in plan.decisions:
        if d.rule == "postgres":
            said[d.subject] = f"{said.get(d.subject, '')} | {d.text}"
    assert "type text: mixed values (1 integer, 1 text)" in said["events.mixed"]
    assert "'soon'" in said["events.at_bad"]
    assert "Julian day" in said["events.at_julian"]
    assert "milliseconds" in said["events.at_ms"]
    assert "unrounded" in said["events.loose"]
    assert "0/1/true/false" in said["events.bad_flag"]
    assert "dropped" in said["events.local_at"] and "localtime" in said["events.local_at"]
    assert "becomes to_char" in said["events.created"]
    # JSONL: every value read again; big integers found in the bytes.
    log = _types(plan, "log")
    assert log["ts"] == "timestamptz" and log["when"] == "text" and log["big"] == "numeric"
    assert "'soon'" in said["log.when"]
    people = _types(plan, "people")
    assert people["joined_at"] == "timestamptz" and people["score"] == "double precision"


def test_the_probe_agrees_with_the_loader_parse(project: Path) -> None:
    """Every value of a column typed timestamptz parses with the loader's function."""
    analysis = analyze(project)
    plan = probe_sources(design(analysis, options=DesignOptions(target=URL)), analysis, project)
    con = sqlite3.connect(f"file:{project / 'app.db'}?mode=ro", uri=True)
    try:
        for c in plan.table("events").columns:  # type: ignore[union-attr]
            if c.pg_type != "timestamptz":
                continue
            for (v,) in con.execute(f'SELECT "{c.name}" FROM events WHERE "{c.name}" IS NOT NULL'):
                if c.name != "local_at":
                    assert pg_parse_timestamp(v) is not None, (c.name, v)
    finally:
        con.close()


def test_without_the_probe_types_come_from_the_declarations(project: Path) -> None:
    analysis = analyze(project)
    plan = design(analysis, options=DesignOptions(target=URL))
    got = _types(plan, "events")
    assert got["mixed"] == "bigint" and got["at_bad"] == "timestamptz" and got["flag"] == "boolean"
    assert got["anything"] == "text" and got["price"] == "numeric(10,2)"


def test_names_fit_in_63_bytes(project: Path, pg_url: str) -> None:
    analysis = analyze(project)
    plan = probe_sources(design(analysis, options=DesignOptions(target=URL)), analysis, project)
    names = [t.name for t in plan.tables]
    names += [c.name for t in plan.tables for c in t.columns]
    names += [ix.name for t in plan.tables for ix in t.indexes]
    assert all(len(n.encode()) <= 63 for n in names)
    long = next(t for t in plan.tables if t.name.startswith("a_table_name"))
    assert long.name != LONG and len({c.name for c in long.columns}) == 3
    assert {ix.name for ix in long.indexes} and len({ix.name for ix in long.indexes}) == 2
    renames = [d for d in plan.decisions if d.rule == "postgres" and "renamed" in d.text]
    assert len(renames) >= 4  # the table, its long columns and its indexes
    # The sources still map onto the renamed columns.
    (src,) = long.sources
    assert set(src.columns.values()) == {c.name for c in long.columns}
    # And the whole DDL runs.
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(render_postgres(plan, "public"))
        got = con.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchone()
    assert got == (len(plan.tables),)


def test_design_is_stable_and_keeps_the_users_types(project: Path) -> None:
    analysis = analyze(project)
    options = DesignOptions(target=URL)
    first = probe_sources(design(analysis, options=options), analysis, project)
    again = probe_sources(design(analysis, options=options, previous=first), analysis, project)
    assert again.tables == first.tables
    ours = [d for d in first.decisions if d.rule == "postgres"]
    assert sorted(map(str, ours)) == sorted(str(d) for d in again.decisions if d.rule == "postgres")
    # The user writes a type of their own into plan.json: it survives design and the probe.
    t = first.table("events")
    assert t is not None
    cols = tuple(
        PlanColumn(**{**c.to_dict(), "pg_type": "varchar(40)"}) if c.name == "mixed" else c
        for c in t.columns
    )
    from dataclasses import replace

    edited = replace(
        first, tables=tuple(replace(x, columns=cols) if x is t else x for x in first.tables)
    )
    redone = probe_sources(design(analysis, options=options, previous=edited), analysis, project)
    assert _types(redone, "events")["mixed"] == "varchar(40)"
    assert any(
        d.subject == "events.mixed" and d.text == "type varchar(40) kept as edited in plan.json"
        for d in redone.decisions
    )
    # …and again, from the plan that now records it as kept.
    twice = probe_sources(design(analysis, options=options, previous=redone), analysis, project)
    assert _types(twice, "events")["mixed"] == "varchar(40)"


def test_sqlite_plans_unchanged(project: Path) -> None:
    analysis = analyze(project)
    plan = probe_sources(design(analysis), analysis, project)
    raw = plan.to_json()
    assert b'"pg_type"' not in raw and b'"schema"' not in raw
    assert not [d for d in plan.decisions if d.rule == "postgres"]


def test_probe_skips_unreadable_stores(project: Path) -> None:
    analysis = analyze(project)
    plan = design(analysis, options=DesignOptions(target=URL))
    (project / "app.db").write_bytes(b"garbage, not a database at all" * 100)
    (project / "log.jsonl").unlink()
    probed = probe_pg_types(plan, analysis, project)
    assert _types(probed, "events") == _types(plan, "events")


def test_cli_target_schema_citus_and_password(project: Path, pg_url: str) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["analyze", "-q", str(project)]).exit_code == 0
    secret = "s3cr3t-pw"
    target = f"postgresql://postgres:{secret}@127.0.0.1:5432/unified?sslmode=disable"
    got = runner.invoke(
        cli, ["design", str(project), "--target", target, "--schema", "App", "--citus"]
    )
    assert got.exit_code == 0, got.output
    assert secret not in got.output and "password" in got.output
    for f in [*project.rglob("*.json"), project / "unified.sql", *project.rglob("*.md")]:
        assert secret not in f.read_text(errors="replace"), f
    plan = Plan.from_json((project / ".dbfold" / "plan.json").read_bytes())
    assert plan.target == "postgresql://postgres@127.0.0.1:5432/unified?sslmode=disable"
    assert plan.schema == "App"
    sql = (project / "unified.sql").read_text()
    assert 'CREATE TABLE "App"."events"' in sql and "create_reference_table" in sql
    report = (project / ".dbfold" / "REPORT.md").read_text()
    assert "double_precision ratio" in report and "## Citus layout" in report
    # Without the Citus calls, the file runs on a plain server.
    import psycopg

    plain = "\n".join(
        line
        for line in sql.splitlines()
        if "create_reference_table" not in line and "create_distributed_table" not in line
    )
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(plain)
    # --check re-renders PostgreSQL DDL from the edited plan; the target stays.
    got = runner.invoke(cli, ["design", str(project), "--check"])
    assert got.exit_code == 0, got.output
    assert 'CREATE TABLE "App"."events"' in (project / "unified.sql").read_text()
    # An edited pg_type that is not a type is refused with its JSON path.
    raw = json.loads((project / ".dbfold" / "plan.json").read_text())
    raw["tables"][0]["columns"][0]["pg_type"] = "bigint); DROP TABLE x; --"
    (project / ".dbfold" / "plan.json").write_text(json.dumps(raw))
    got = runner.invoke(cli, ["design", str(project), "--check"])
    assert got.exit_code == 2 and "pg_type" in got.output
    # --target with --check, and --schema for a SQLite target, are usage errors.
    assert runner.invoke(cli, ["design", str(project), "--check", "--schema", "x"]).exit_code == 2
    got = runner.invoke(cli, ["design", str(project), "--target", "x.db", "--schema", "x"])
    assert got.exit_code == 2


def test_switching_targets_back_and_forth(project: Path) -> None:
    analysis = analyze(project)
    pg = design(analysis, options=DesignOptions(target=URL, schema="app"))
    assert pg.schema == "app" and pg.target == URL
    kept = design(analysis, previous=pg)
    assert kept.target == URL and kept.schema == "app"
    back = design(analysis, options=DesignOptions(target="data/unified.db"), previous=pg)
    assert back.schema == "public" and back.target == "data/unified.db"
    # Names the PostgreSQL plan cut stay as they were (design keeps the previous plan's
    # names); nothing PostgreSQL-only is left in the plan.
    raw = back.to_json()
    assert b'"pg_type"' not in raw and b'"schema"' not in raw


def test_record_files_read_again(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    records = [
        {"id": i, "at": "2024-05-01T10:00:00Z" if i != 230 else "2024-05-01 later", "n": i}
        for i in range(300)
    ]
    records[7]["n"] = -(2**70)
    (root / "items.json").write_text(json.dumps(records, indent=1))
    rows = ["id,seen_at"] + [f"{i},2024-05-0{1 + i % 9}" for i in range(300)]
    rows[260] = "259,n/a"
    (root / "visits.csv").write_text("\n".join(rows) + "\n")
    analysis = analyze(root)
    draft = design(analysis, options=DesignOptions(target=URL))
    # analyze looked at a sample: the declared (neutral) types say timestamp and integer.
    assert _types(draft, "items")["at"] == "timestamptz"
    assert _types(draft, "visits")["seen_at"] == "timestamptz"
    before = _digest(root)
    plan = probe_pg_types(draft, analysis, root)
    assert _digest(root) == before
    assert _types(plan, "items") == {"id": "bigint", "at": "text", "n": "numeric"}
    assert _types(plan, "visits")["seen_at"] == "text"
    texts = [d.text for d in plan.decisions if d.rule == "postgres"]
    assert any("'2024-05-01 later'" in t for t in texts)
    assert any("'n/a'" in t for t in texts)
    assert any("1 integer is past 64 bits" in t for t in texts)

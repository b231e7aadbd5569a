"""Read the source values once more to choose each column's PostgreSQL type from them.

A declared type says what a column was meant to hold; SQLite keeps whatever was stored, so
``'abc'`` may sit in an ``INTEGER`` column and ``'yesterday'`` in a ``DATETIME`` one.
PostgreSQL holds a column to its type, so :func:`probe_pg_types` (run by ``dbfold design``
when the plan's target is PostgreSQL, skipped with ``--no-probe``) finds out, per target
column, what its values are, and :func:`dbfold.design.pg_plan.apply_pg_types` chooses:

- SQLite sources: per column the counts of integer, real, text and blob values (the cheap
  pass of :func:`dbfold.design.probe_types.type_counts`), and for the columns whose type
  needs every value to pass a test (boolean, timestamp, JSON, ``NUMERIC(p,s)``) one more
  pass that applies that test, the very function the loader converts with
  (:func:`dbfold.design.pg_types.pg_parse_timestamp` and friends), registered in SQLite;
- JSON, JSONL and CSV sources: the per-type counts the analysis recorded, plus what it
  does not record: whether *every* value of a timestamp field parses (analyze looked at a
  sample) and which integer fields hold integers past 64 bits (which analyze counts as
  reals). JSON and JSONL files are searched as bytes for those fields (a regular expression
  over a read-only memory map, no parse); CSV files are read with the csv module.

Sources are read, never written: SQLite through :func:`dbfold.sqlitefiles.readable` (as the
other probes), files through read-only maps. A store that cannot be read is left unprobed
and its columns keep the type their declaration gives.
"""

from __future__ import annotations

import csv
import itertools
import json
import mmap
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from dbfold import sqlitefiles
from dbfold.design.pg_plan import apply_pg_types, record_facts
from dbfold.design.pg_types import (
    BIGINT_MAX,
    BIGINT_MIN,
    ValueFacts,
    is_epoch_ms,
    looks_julian,
    numeric_fits,
    numeric_ps,
    pg_parse_boolean,
    pg_parse_timestamp,
)
from dbfold.design.probe import LOCK_TIMEOUT, readable
from dbfold.design.probe_types import TYPES, type_counts
from dbfold.model import Analysis, Store, Table
from dbfold.plan import Plan, PlanColumn, split_path
from dbfold.quoting import quote


@dataclass
class _Check:
    """One value test over one column, counting failures and keeping the first."""

    test: Callable[[object], bool]
    failed: int = 0
    example: str | None = None
    epoch_ms: bool = False
    julian: bool = False

    def __call__(self, value: object) -> int:
        ok = self.test(value)
        if ok and is_epoch_ms(value):
            self.epoch_ms = True
        if not ok:
            self.failed += 1
            if looks_julian(value):
                self.julian = True
            if self.example is None:
                text = repr(value)
                self.example = text if len(text) <= 40 else text[:37] + "..."
        return 1


def timestamp_ok(value: object) -> bool:
    """The probe's test for a timestamptz value: exactly the loader's parse."""
    return pg_parse_timestamp(value) is not None


def json_ok(value: object) -> bool:
    """The probe's test for a jsonb value: JSON text (without ``\\u0000``) or a number."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if not isinstance(value, str) or "\\u0000" in value or "\x00" in value:
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def _test_for(col: PlanColumn) -> Callable[[object], bool] | None:
    if col.type == "boolean":
        return lambda v: pg_parse_boolean(v) is not None
    if col.type == "timestamp":
        return timestamp_ok
    if col.type == "json":
        return json_ok
    ps = numeric_ps(col.declared) if col.type == "numeric" else None
    if ps is not None:
        p, s = ps
        return lambda v: numeric_fits(v, p, s)
    return None


@dataclass
class _Wanted:
    """The columns of one source table to probe, each with the plan columns it feeds."""

    table: Table
    feeds: dict[str, list[tuple[str, PlanColumn]]] = field(default_factory=dict)


def _sqlite_facts(
    con: sqlite3.Connection, want: _Wanted
) -> Iterator[tuple[str, PlanColumn, ValueFacts]]:
    table = want.table
    cols = [c for c in table.columns if c.name in want.feeds and "generated" not in c.hints]
    if not cols or not table.rows:
        return
    q = quote(table.name)
    spec = [(c.name, c.type, not c.nullable and not c.primary_key) for c in cols]
    per_column = type_counts(con, q, spec, table.rows)
    counts = {
        c.name: {k: n for k, n in zip(TYPES, per, strict=True) if n}
        for c, per in zip(cols, per_column, strict=True)
    }
    # The value tests, one pass for every column that needs one.
    checks: dict[tuple[str, str, str], _Check] = {}
    exprs: list[str] = []
    for c in cols:
        for target_table, pc in want.feeds[c.name]:
            test = _test_for(pc)
            if test is None:
                continue
            key = (c.name, target_table, pc.name)
            checks[key] = _Check(test)
            fn = f"dbfold_check_{len(exprs)}"
            con.create_function(fn, 1, checks[key], deterministic=True)
            exprs.append(f"sum({fn}({quote(c.name)})) FILTER (WHERE {quote(c.name)} IS NOT NULL)")
    if exprs:
        con.execute(f"SELECT {', '.join(exprs)} FROM {q}").fetchone()
    for c in cols:
        for target_table, pc in want.feeds[c.name]:
            chk = checks.get((c.name, target_table, pc.name))
            facts = ValueFacts(counts=counts[c.name])
            if chk is not None:
                ok = chk.failed == 0
                bad = chk.example
                if chk.julian and pc.type == "timestamp":
                    bad = f"{bad}, which looks like a Julian day"
                facts = replace(
                    facts,
                    boolean_ok=ok if pc.type == "boolean" else None,
                    timestamp_ok=ok if pc.type == "timestamp" else None,
                    timestamp_bad=bad if pc.type == "timestamp" and not ok else None,
                    json_ok=ok if pc.type == "json" else None,
                    numeric_ok=ok if pc.type == "numeric" else None,
                    epoch_ms=chk.epoch_ms,
                )
            yield target_table, pc, facts


def _probe_sqlite(
    root: Path, store: str, wanted: dict[str, _Wanted]
) -> list[tuple[str, PlanColumn, ValueFacts]]:
    out: list[tuple[str, PlanColumn, ValueFacts]] = []
    with readable(root / store) as uri:
        con = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT)
        try:
            for want in wanted.values():
                out.extend(_sqlite_facts(con, want))
        finally:
            con.close()
    return out


# --- record files -------------------------------------------------------------------------

_STRING = rb'"((?:[^"\\]|\\.)*)"'
_BIG_INT = re.compile(_STRING + rb"\s*:\s*(-?\d{19,})(?![\d.eE])")


def _key_pattern(key: str) -> bytes:
    """The ways ``key`` may be spelled as a JSON object key, as one regex alternative."""
    forms = {json.dumps(key, ensure_ascii=False), json.dumps(key, ensure_ascii=True)}
    return b"(?:" + b"|".join(re.escape(f.encode("utf-8")) for f in sorted(forms)) + b")"


@contextmanager
def _mapped(path: Path) -> Iterator[mmap.mmap | bytes]:
    """The file's bytes as a read-only memory map (bytes for an empty file)."""
    with open(path, "rb") as f:
        try:
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            yield b""
            return
        try:
            yield m
        finally:
            m.close()


def big_integer_keys(path: Path) -> dict[str, int]:
    """Object keys of a JSON/JSONL file that hold integers past 64 bits, with their counts.

    Found in the bytes (no parse): a key, a colon and 19 or more digits not followed by a
    fraction or an exponent. Text inside strings that looks the same may be counted too,
    which only makes a column ``numeric`` that could have been ``bigint``.
    """
    found: dict[str, int] = {}
    with _mapped(path) as data:
        for m in _BIG_INT.finditer(data):
            if BIGINT_MIN <= int(m.group(2)) <= BIGINT_MAX:
                continue
            try:
                key = json.loads(b'"' + m.group(1) + b'"')
            except ValueError:
                continue
            found[key] = found.get(key, 0) + 1
    return found


def timestamp_values(path: Path, key: str) -> tuple[bool | None, str | None, bool]:
    """Whether every value of object key ``key`` in a JSON/JSONL file is a timestamp.

    Returns (all parse, the first value that does not, some were epoch milliseconds); the
    first is None when the key is nowhere to be found (a positional ``rows`` layout), so
    nothing was checked.
    Every occurrence of the key counts, at any depth: a same-named key of another object
    that holds no timestamps makes the answer no, the safe side (the column stays text).
    """
    pat = re.compile(_key_pattern(key) + rb"\s*:\s*(?:" + _STRING + rb"|(null)|([^\s,}\]]+))")
    epoch_ms = False
    seen = False
    with _mapped(path) as data:
        for m in pat.finditer(data):
            seen = True
            if m.group(2):
                continue
            if m.group(1) is not None:
                try:
                    value: object = json.loads(b'"' + m.group(1) + b'"')
                except ValueError:
                    return False, m.group(0).decode("utf-8", "replace")[:40], epoch_ms
            else:
                raw = m.group(3)
                try:
                    value = json.loads(raw)
                except ValueError:
                    return False, raw.decode("utf-8", "replace")[:40], epoch_ms
            if not timestamp_ok(value):
                text = repr(value)
                return False, text if len(text) <= 40 else text[:37] + "...", epoch_ms
            epoch_ms = epoch_ms or is_epoch_ms(value)
    return (True if seen else None), None, epoch_ms


def csv_timestamp_values(path: Path, store: Store, column: str) -> tuple[bool | None, str | None]:
    """Whether every non-empty value of a CSV column is a timestamp (and the first that is
    not), reading the file with the dialect analyze found; None when the file has no such
    column (nothing was checked)."""
    dialect = dict(store.dialect)
    params: dict[str, str] = {
        "delimiter": dialect.get("delimiter", ","),
        "quotechar": dialect.get("quotechar", '"'),
    }
    if dialect.get("escapechar"):
        params["escapechar"] = dialect["escapechar"]
    with open(path, encoding=store.encoding or "utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, **params)  # type: ignore[arg-type]
        first = next(reader, None)
        while first is not None and not first:
            first = next(reader, None)
        if first is None:
            return True, None
        headerless = dialect.get("header") == "no"
        names = [f"col_{i}" for i in range(1, len(first) + 1)] if headerless else first
        names = [n.strip() for n in names]
        if column not in names:
            return None, None
        i = names.index(column)
        # Without a header the first row is data too.
        rows = itertools.chain([first] if headerless else [], reader)
        for row in rows:
            if i < len(row) and row[i] != "" and not timestamp_ok(row[i]):
                return False, repr(row[i][:40])
    return True, None


def _record_extras(plan: Plan, analysis: Analysis, root: Path) -> dict[tuple[str, str], ValueFacts]:
    """Facts about record-store columns that only reading the files gives."""
    out: dict[tuple[str, str], ValueFacts] = {}
    big: dict[str, dict[str, int]] = {}
    for t in plan.tables:
        for src in t.sources:
            try:
                store = analysis.store(src.store)
            except KeyError:
                continue
            if store.kind not in ("json", "jsonl", "csv"):
                continue
            path = root / src.store
            for source_path, target in src.columns.items():
                pc = t.column(target)
                if pc is None:
                    continue
                key = split_path(source_path)[-1]
                facts = ValueFacts()
                try:
                    if pc.type == "timestamp":
                        ok: bool | None
                        if store.kind == "csv":
                            ok, bad = csv_timestamp_values(path, store, key)
                            ms = False
                        else:
                            ok, bad, ms = timestamp_values(path, key)
                        facts = replace(facts, timestamp_ok=ok, timestamp_bad=bad, epoch_ms=ms)
                    elif pc.type in ("integer", "real") and store.kind != "csv":
                        if src.store not in big:
                            big[src.store] = big_integer_keys(path)
                        n = big[src.store].get(key, 0)
                        if n:
                            facts = replace(facts, big_integers=n)
                except (OSError, UnicodeError, csv.Error):
                    continue
                k = (t.name.casefold(), pc.name.casefold())
                out[k] = out[k].merged(facts) if k in out else facts
    return out


def probe_pg_types(plan: Plan, analysis: Analysis, root: Path | str) -> Plan:
    """Choose every column's PostgreSQL type from the values of its sources.

    See the module text for what is read. Columns no probe reached keep the type their
    declaration gives; types the user wrote in plan.json are kept
    (:func:`dbfold.design.pg_plan.apply_pg_types`).
    """
    root = Path(root)
    facts = record_facts(plan, analysis)
    for k, extra in _record_extras(plan, analysis, root).items():
        base = facts.get(k, ValueFacts())
        facts[k] = _overlay(base, extra)
    wanted: dict[str, dict[str, _Wanted]] = {}
    for t in plan.tables:
        for src in t.sources:
            try:
                store = analysis.store(src.store)
            except KeyError:
                continue
            if store.kind != "sqlite" or src.array is not None:
                continue
            table = next((x for x in store.tables if x.name == src.table), None)
            if table is None:
                continue
            want = wanted.setdefault(src.store, {}).setdefault(src.table, _Wanted(table))
            for path, target in src.columns.items():
                pc = t.column(target)
                if pc is not None:
                    want.feeds.setdefault(path, []).append((t.name, pc))
    for store_path, by_table in wanted.items():
        try:
            found = _probe_sqlite(root, store_path, by_table)
        except (sqlite3.Error, OSError, sqlitefiles.SourceReadError):
            continue
        for table_name, pc, f in found:
            k = (table_name.casefold(), pc.name.casefold())
            facts[k] = facts[k].merged(f) if k in facts else f
    return apply_pg_types(plan, facts, probed=True)


def _overlay(base: ValueFacts, extra: ValueFacts) -> ValueFacts:
    """``base`` (the analysis's counts) with what reading the file added."""
    return replace(
        base,
        timestamp_ok=extra.timestamp_ok if extra.timestamp_ok is not None else base.timestamp_ok,
        timestamp_bad=extra.timestamp_bad or base.timestamp_bad,
        epoch_ms=base.epoch_ms or extra.epoch_ms,
        big_integers=base.big_integers + extra.big_integers,
    )

"""``check_plan``: validate a hand-edited plan.json against the analysis.

Every error is a :class:`DesignError` whose message starts with the JSON path of the
offending value, e.g. ``$.tables[3].columns[2].name: duplicate column "x"``.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import orjson
from sqlglot import exp

from dbfold.design import collations
from dbfold.design.coltypes import normalize_declared, unify_types, unify_values
from dbfold.design.render_sql import default_sql, integer_key
from dbfold.design.rules.suggest import apply_suggestion
from dbfold.design.validate import check_object
from dbfold.errors import DesignError
from dbfold.indexsql import IndexSqlError, parse_term
from dbfold.model import Analysis, Column, Table
from dbfold.plan import NEUTRAL_TYPES, PLAN_FORMAT, Plan, PlanIndex, PlanTable, split_path


def _fail(path: str, message: str) -> DesignError:
    return DesignError(f"{path}: {message}")


def _source_column(table: Table, path: str, array: str | None) -> Column | None:
    """The analysis column a source path names (walking nested fields), or None."""
    if table.layout == "table":
        return next((c for c in table.columns if c.name == path), None)
    cols = table.columns
    keys = (*split_path(array), *split_path(path)) if array else split_path(path)
    found: Column | None = None
    for key in keys:
        found = next((c for c in cols if c.name == key), None)
        if found is None:
            if table.layout == "rows" and key.isdigit() and int(key) < len(cols):
                found = cols[int(key)]
            else:
                return None
        cols = found.fields
    return found


def _check_names(plan: Plan) -> None:
    seen: dict[str, int] = {}
    for i, t in enumerate(plan.tables):
        low = t.name.casefold()
        if not t.name.strip():
            raise _fail(f"$.tables[{i}].name", "a table needs a name")
        if low in seen:
            raise _fail(
                f"$.tables[{i}].name",
                f"table {t.name!r} clashes with $.tables[{seen[low]}] (case-insensitive)",
            )
        if low.startswith(("sqlite_", "dbfold_")):
            raise _fail(f"$.tables[{i}].name", f"{t.name!r}: names sqlite_*/dbfold_* are reserved")
        seen[low] = i
        cols: dict[str, int] = {}
        for j, c in enumerate(t.columns):
            path = f"$.tables[{i}].columns[{j}]"
            if c.name.casefold() in cols:
                raise _fail(f"{path}.name", f"duplicate column {c.name!r} (case-insensitive)")
            if c.type not in NEUTRAL_TYPES:
                raise _fail(f"{path}.type", f"unknown type {c.type!r}; use one of {NEUTRAL_TYPES}")
            if c.default is not None:
                try:
                    default_sql(c.default)
                except DesignError as exc:
                    raise _fail(f"{path}.default", str(exc)) from None
            if c.collation is not None:
                _check_collation(f"{path}.collation", c.collation)
            cols[c.name.casefold()] = j


def _check_collation(path: str, name: str) -> None:
    """A collation the unified database can be created with: one SQLite knows."""
    if not collations.known(name):
        raise _fail(
            path,
            f"SQLite does not know collation {name!r} (a program registers it with"
            " create_collation, which the migration cannot run); use BINARY, NOCASE or RTRIM,"
            " or remove the key (BINARY)",
        )


def _check_table_refs(plan: Plan) -> None:
    for i, t in enumerate(plan.tables):
        for field, groups in (("primary_key", [t.primary_key]), ("unique", list(t.unique))):
            for g in groups:
                for c in g:
                    if t.column(c) is None:
                        raise _fail(f"$.tables[{i}].{field}", f"no column {c!r} in {t.name!r}")
        if t.autoincrement and integer_key(t) is None:
            raise _fail(
                f"$.tables[{i}].autoincrement",
                f"{t.name!r}: AUTOINCREMENT needs a primary key of one integer column",
            )
        for k, ix in enumerate(t.indexes):
            for c in ix.columns:
                if t.column(c) is None:
                    raise _fail(f"$.tables[{i}].indexes[{k}]", f"no column {c!r} in {t.name!r}")
            _check_index_sql(f"$.tables[{i}].indexes[{k}]", t, ix)
            lows = {c.casefold() for c in ix.columns}
            for c, coll in ix.collations.items():
                where = f"$.tables[{i}].indexes[{k}].collations.{c}"
                if c.casefold() not in lows:
                    raise _fail(where, f"{c!r} is not a column of index {ix.name!r}")
                _check_collation(where, coll)
        for k, fk in enumerate(t.foreign_keys):
            path = f"$.tables[{i}].foreign_keys[{k}]"
            for c in fk.columns:
                if t.column(c) is None:
                    raise _fail(f"{path}.columns", f"no column {c!r} in {t.name!r}")
            ref = plan.table(fk.ref_table)
            if ref is None:
                raise _fail(f"{path}.ref_table", f"no table {fk.ref_table!r} in the plan")
            for c in fk.ref_columns:
                if ref.column(c) is None:
                    raise _fail(f"{path}.ref_columns", f"no column {c!r} in {ref.name!r}")
            if len(fk.columns) != len(fk.ref_columns):
                raise _fail(path, "columns and ref_columns differ in length")


def _check_index_sql(path: str, t: PlanTable, ix: PlanIndex) -> None:
    """A partial index's predicate and an expression index's key terms: each one SQLite
    expression that names only the table's own columns (target names, as in ``columns[]``),
    and ``columns`` the columns the key terms read."""
    parts = [(f"{path}.expressions[{j}]", e) for j, e in enumerate(ix.expressions)]
    if ix.where is not None:
        parts.append((f"{path}.where", ix.where))
    read: dict[str, str] = {}
    for where, sql in parts:
        try:
            tree = parse_term(sql)
        except IndexSqlError as exc:
            raise _fail(
                where, f"{exc}; write one SQLite expression over {t.name!r}'s columns"
            ) from None
        for col in tree.find_all(exp.Column):
            if t.column(col.name) is None:
                raise _fail(
                    where,
                    f"names {col.name!r}, which is not a column of {t.name!r}"
                    " (use the names of its columns[], as after any rename)",
                )
            if where != f"{path}.where":
                read.setdefault(col.name.casefold(), col.name)
        for coll in tree.find_all(exp.Collate):
            _check_collation(where, coll.expression.name)
    if not ix.expressions:
        return
    if ix.collations:
        raise _fail(
            f"{path}.collations",
            "an index with expressions takes its collations inside them"
            " ('\"name\" COLLATE NOCASE'); remove collations",
        )
    have = {c.casefold() for c in ix.columns}
    if have != set(read):
        want = ", ".join(repr(c) for c in read.values())
        raise _fail(
            f"{path}.columns",
            f"must list the columns its expressions read ({want}), each once",
        )


def _check_sources(plan: Plan, analysis: Analysis) -> None:
    stores = {s.path: s for s in analysis.stores}
    missing = sorted(set(plan.stores) - set(stores))
    if missing:
        raise DesignError(
            f"plan.json names stores the analysis no longer has ({', '.join(missing)}):"
            " the analysis is stale or the plan is from another project; re-run"
            " `dbfold analyze`, then `dbfold design`"
        )
    homes: set[tuple[str, str]] = set()
    for i, t in enumerate(plan.tables):
        for j, src in enumerate(t.sources):
            path = f"$.tables[{i}].sources[{j}]"
            table = next((x for x in stores[src.store].tables if x.name == src.table), None)
            if table is None:
                raise _fail(f"{path}.table", f"{src.store} has no table {src.table!r}")
            homes.add((src.store, src.table))
            for col_path, target in src.columns.items():
                cpath = f"{path}.columns.{col_path}"
                col = _source_column(table, col_path, src.array)
                if col is None:
                    raise _fail(cpath, f"{src.store}:{src.table} has no column {col_path!r}")
                tcol = t.column(target)
                if tcol is None:
                    raise _fail(cpath, f"no column {target!r} in {t.name!r}")
            generated = (src.discriminator, src.parent_column, src.position_column, src.surrogate)
            for g in generated:
                if g is not None and t.column(g) is None:
                    raise _fail(path, f"no column {g!r} in {t.name!r}")
        _check_source_types(plan, i, t, analysis)
    excluded = {(e.store, e.table) for e in plan.excluded}
    for store in analysis.stores:
        for table in store.tables:
            key = (store.path, table.name)
            if key not in homes and key not in excluded and (store.path, "") not in excluded:
                raise _fail(
                    "$.excluded",
                    f"{store.path}:{table.name} has no home and no exclusion; give it a table"
                    " or add it to excluded with a reason",
                )


def _check_source_types(plan: Plan, i: int, t: PlanTable, analysis: Analysis) -> None:
    """Two sources feeding one column must agree on a type that holds both."""
    feeds: dict[str, list[tuple[int, str, str]]] = {}
    for j, src in enumerate(t.sources):
        table = next(x for x in analysis.store(src.store).tables if x.name == src.table)
        for col_path, target in src.columns.items():
            col = _source_column(table, col_path, src.array)
            assert col is not None
            if table.layout == "table":
                typ = normalize_declared(col.type)
            elif col.type in ("object", "array"):
                typ = "json"
            else:
                typ = unify_values(dict(col.observed) or {col.type: 1})[0]
            feeds.setdefault(target.casefold(), []).append((j, col_path, typ))
    for target, fed in feeds.items():
        for (j1, p1, t1), (j2, p2, t2) in pairwise(fed):
            if unify_types(t1, t2) is None and "blob" not in (t1, t2) and j1 != j2:
                raise _fail(
                    f"$.tables[{i}].sources[{j2}].columns.{p2}",
                    f"maps onto {target!r} like $.tables[{i}].sources[{j1}].columns.{p1},"
                    f" but its values are {t2} and those are {t1}",
                )
            if j1 == j2:
                raise _fail(
                    f"$.tables[{i}].sources[{j2}].columns.{p2}",
                    f"{p1!r} and {p2!r} both map onto column {target!r}",
                )


def parse_plan(plan_json: bytes) -> Plan:
    """Read plan.json: valid JSON, the known format, every key of the right type.

    Raises:
        DesignError: the first problem, its message starting with the JSON path.
    """
    try:
        raw = orjson.loads(plan_json)
    except orjson.JSONDecodeError as exc:
        raise DesignError(f"plan.json is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise _fail("$", "plan.json must hold a JSON object")
    if raw.get("format") != PLAN_FORMAT:
        raise _fail(
            "$.format",
            f"unknown plan format {raw.get('format')!r}; this version reads {PLAN_FORMAT!r}",
        )
    check_object(Plan, raw, "$")
    return Plan.from_dict(raw)


def check_plan(plan_json: bytes, analysis: Analysis) -> Plan:
    """Validate a (hand-edited) plan.json against the analysis it was made from.

    Args:
        plan_json: the content of plan.json.
        analysis: the current analysis.

    Returns:
        The plan, with suggestions marked ``accepted`` applied as foreign keys.

    Raises:
        DesignError: the first problem found, its message starting with the JSON path.
    """
    plan = parse_plan(plan_json)
    _check_names(plan)
    _check_sources(plan, analysis)
    tables = list(plan.tables)
    for k, s in enumerate(plan.suggestions):
        if not s.accepted:
            continue
        i = next((i for i, t in enumerate(tables) if t.name == s.table), None)
        if i is None:
            raise _fail(f"$.suggestions[{k}].table", f"no table {s.table!r} in the plan")
        tables[i] = apply_suggestion(tables[i], s)
    plan = replace(plan, tables=tuple(tables))
    _check_table_refs(plan)
    _check_postgres(plan)
    return plan


def _check_postgres(plan: Plan) -> None:
    """For a PostgreSQL target: names PostgreSQL keeps as written, and type names it reads."""
    from dbfold.design.pg_plan import check_pg_type
    from dbfold.design.pg_types import PG_NAME_BYTES, name_bytes
    from dbfold.pgurl import is_postgres

    if not is_postgres(plan.target):
        return

    def name_ok(path: str, name: str) -> None:
        if "\x00" in name:
            raise _fail(path, f"{name!r}: PostgreSQL names cannot hold a NUL character")
        if name_bytes(name) > PG_NAME_BYTES:
            raise _fail(
                path,
                f"{name!r} is {name_bytes(name)} bytes; PostgreSQL keeps {PG_NAME_BYTES}"
                " (shorten it, or run `dbfold design` to have it cut)",
            )

    if not plan.schema.strip():
        raise _fail("$.schema", "the schema needs a name")
    name_ok("$.schema", plan.schema)
    for i, t in enumerate(plan.tables):
        name_ok(f"$.tables[{i}].name", t.name)
        for j, c in enumerate(t.columns):
            name_ok(f"$.tables[{i}].columns[{j}].name", c.name)
            if c.pg_type is not None:
                problem = check_pg_type(c.pg_type)
                if problem is not None:
                    raise _fail(f"$.tables[{i}].columns[{j}].pg_type", problem)
        for j, ix in enumerate(t.indexes):
            name_ok(f"$.tables[{i}].indexes[{j}].name", ix.name)

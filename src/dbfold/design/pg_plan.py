"""Make a plan ready for a PostgreSQL target: final names, PostgreSQL types, default notes.

``design()`` runs :func:`postgres_plan` last when the plan's target is a ``postgresql://``
URL, so the plan holds what will exist, and what the report shows is what the database gets:

- **names** (:func:`fit_names`): PostgreSQL cuts identifiers past 63 bytes (UTF-8) silently
  and refuses NUL; every table, column, view and index name is made to fit, collisions
  resolved with a short hash, each rename a Decision. References (keys, sources, views,
  triggers, suggestions) follow through :func:`dbfold.plan.rename_table`/``rename_column``.
  Index names must also differ from every other relation of the schema, including the
  primary-key and unique indexes the renderer names (:mod:`dbfold.design.pg_names`).
- **types** (:func:`apply_pg_types`): ``PlanColumn.pg_type`` for every column, from the
  values the analysis recorded (record stores) or the declared type (SQLite, until
  :func:`dbfold.design.probe_pg.probe_pg_types` reads the values); a type the user wrote in
  plan.json is kept.
- **defaults**: each default that PostgreSQL gets differently (translated or dropped) is a
  Decision (:func:`dbfold.design.pg_types.pg_default`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from dbfold.design.pg_names import primary_key_name, reserved_names, unique_index_names
from dbfold.design.pg_types import (
    PG_NAME_BYTES,
    TypeChoice,
    ValueFacts,
    choose_pg_type,
    fit_name,
    name_bytes,
    neutral_pg_type,
    pg_default,
)
from dbfold.design.render_sql import default_sql
from dbfold.errors import DesignError
from dbfold.model import Analysis, Column
from dbfold.plan import (
    Decision,
    Plan,
    PlanColumn,
    PlanTable,
    Source,
    rename_column,
    rename_table,
    split_path,
)

RULE = "postgres"
_TYPE_TEXT = re.compile(r"^type (?P<type>.+?)(?: kept as edited in plan\.json|: .*)$")
EDITED = "kept as edited in plan.json"


def postgres_plan(plan: Plan, analysis: Analysis | None, previous: Plan | None = None) -> Plan:
    """The plan with PostgreSQL names, types and default decisions (see the module text).

    Idempotent: running it on its own output changes nothing.
    """
    plan = _carry_renames(fit_names(plan), previous)
    facts = record_facts(plan, analysis) if analysis is not None else {}
    plan = apply_pg_types(plan, facts, previous=previous)
    return default_decisions(plan)


# --- names --------------------------------------------------------------------------------


def _safe(name: str) -> str:
    """A name PostgreSQL can hold: no NUL (SQLite allows one, PostgreSQL never does)."""
    return name.replace("\x00", "_")


def _fit_unique(name: str, taken: set[str]) -> str:
    """``name`` made PostgreSQL-safe, ≤ 63 bytes and not in ``taken`` (casefolded)."""
    out = fit_name(_safe(name))
    n = 0
    while out.casefold() in taken:
        n += 1
        out = fit_name(_safe(name), salt=str(n))
    return out


def _why(old: str, new: str) -> str:
    if "\x00" in old:
        return "PostgreSQL names cannot hold a NUL character"
    if name_bytes(_safe(old)) > PG_NAME_BYTES:
        return (
            f"PostgreSQL names are at most {PG_NAME_BYTES} bytes and this one is"
            f" {name_bytes(old)}; cut and given a hash of the whole name"
        )
    return "the name PostgreSQL would otherwise get is taken"


def fit_names(plan: Plan) -> Plan:
    """Every table, column, view and index name ≤ 63 bytes, unique, with a Decision each."""
    decisions = list(plan.decisions)
    # Tables: keep the names that fit; rename the rest away from every name kept.
    relations = {t.name.casefold() for t in plan.tables if _fits(t.name)}
    relations |= {v.name.casefold() for v in plan.views if _fits(v.name)}
    for t in list(plan.tables):
        if _fits(t.name):
            continue
        new = _fit_unique(t.name, relations)
        relations.add(new.casefold())
        plan = rename_table(plan, t.name, new)
        decisions.append(Decision(RULE, t.name, f"table renamed {new!r}: {_why(t.name, new)}"))
    views = []
    for v in plan.views:
        if _fits(v.name):
            views.append(v)
            continue
        new = _fit_unique(v.name, relations)
        relations.add(new.casefold())
        views.append(replace(v, name=new))
        decisions.append(Decision(RULE, v.name, f"view renamed {new!r}: {_why(v.name, new)}"))
    plan = replace(plan, views=tuple(views))
    # A table or view named like another table's key index ("users_pkey") would collide
    # with it in the schema's one namespace.
    keyed = {n.casefold() for n in reserved_names(plan)}
    for t in list(plan.tables):
        own = {primary_key_name(t).casefold(), *(n.casefold() for n in unique_index_names(t))}
        if t.name.casefold() in keyed - own:
            new = _fit_unique(t.name + "_", relations | keyed)
            relations.add(new.casefold())
            plan = rename_table(plan, t.name, new)
            decisions.append(
                Decision(
                    RULE,
                    t.name,
                    f"table renamed {new!r}: another table's key index has that name",
                )
            )
    # Columns, per table.
    for t in list(plan.tables):
        kept = {c.name.casefold() for c in t.columns if _fits(c.name)}
        for c in t.columns:
            if _fits(c.name):
                continue
            new = _fit_unique(c.name, kept)
            kept.add(new.casefold())
            plan = rename_column(plan, t.name, c.name, new)
            subject = f"{t.name}.{c.name}"
            decisions.append(
                Decision(RULE, subject, f"column renamed {new!r}: {_why(c.name, new)}")
            )
    # Indexes share the schema's namespace with tables, views and the key indexes.
    taken = relations | {n.casefold() for n in reserved_names(plan)}
    tables = []
    for t in plan.tables:
        indexes = []
        for ix in t.indexes:
            if _fits(ix.name) and ix.name.casefold() not in taken:
                taken.add(ix.name.casefold())
                indexes.append(ix)
                continue
            new = _fit_unique(ix.name, taken)
            taken.add(new.casefold())
            indexes.append(replace(ix, name=new))
            why = _why(ix.name, new)
            if _fits(ix.name):
                why = "another table, view, key or index of the schema has that name"
            decisions.append(Decision(RULE, f"{t.name}.{ix.name}", f"index renamed {new!r}: {why}"))
        tables.append(replace(t, indexes=tuple(indexes)))
    return replace(plan, tables=tuple(tables), decisions=tuple(_dedup(decisions)))


_RENAMED = re.compile(r"^(table|view|column|index) renamed (?P<new>'.*'|\".*\"): ")


def _carry_renames(plan: Plan, previous: Plan | None) -> Plan:
    """The previous plan's rename decisions whose new names the plan still has.

    A re-run of design takes the previous plan's names as they are (rule ``names``), so
    it does not rename again; the reason a name was cut stays in the report all the same.
    """
    if previous is None:
        return plan
    import ast

    names = {t.name for t in plan.tables} | {v.name for v in plan.views}
    names |= {c.name for t in plan.tables for c in t.columns}
    names |= {ix.name for t in plan.tables for ix in t.indexes}
    carried = []
    for d in previous.decisions:
        m = _RENAMED.match(d.text) if d.rule == RULE else None
        if m is None:
            continue
        try:
            new = ast.literal_eval(m.group("new"))
        except (ValueError, SyntaxError):
            continue
        if new in names:
            carried.append(d)
    return replace(plan, decisions=tuple(_dedup([*plan.decisions, *carried])))


def _fits(name: str) -> bool:
    return "\x00" not in name and name_bytes(name) <= PG_NAME_BYTES


def _dedup(items: Iterable[Decision]) -> list[Decision]:
    return list(dict.fromkeys(items))


# --- types --------------------------------------------------------------------------------

#: (table, column) casefolded → what the values of that column were seen to be.
Facts = Mapping[tuple[str, str], ValueFacts]


def subject(table: PlanTable, col: PlanColumn) -> str:
    """The subject of a Decision about one column: ``table.column``."""
    return f"{table.name}.{col.name}"


def type_decision(table: PlanTable, col: PlanColumn, choice: TypeChoice) -> Decision:
    """The Decision that records a non-obvious type choice (its text names the type)."""
    return Decision(RULE, subject(table, col), f"type {choice.pg_type}: {choice.why}")


def _designed_type(text: str) -> str | None:
    m = _TYPE_TEXT.match(text)
    return m.group("type") if m else None


def edited_columns(plan: Plan) -> set[tuple[str, str]]:
    """Columns whose ``pg_type`` design keeps because the user wrote it (casefolded)."""
    out = set()
    for d in plan.decisions:
        if d.rule == RULE and d.text.endswith(EDITED) and "." in d.subject:
            table, _, col = d.subject.partition(".")
            out.add((table.casefold(), col.casefold()))
    return out


def _user_types(previous: Plan | None) -> dict[tuple[str, str], str]:
    """The ``pg_type`` of each previous column the user set: one design did not choose.

    Design chose a type when it is the neutral mapping or a Decision of the previous plan
    names it; any other value was written by hand, and a hand-kept one stays kept.
    """
    if previous is None:
        return {}
    designed: dict[str, str] = {}
    kept: set[str] = set()
    for d in previous.decisions:
        if d.rule != RULE or not d.text.startswith("type "):
            continue
        typ = _designed_type(d.text)
        if typ is None:
            continue
        if d.text.endswith(EDITED):
            kept.add(d.subject.casefold())
        else:
            designed[d.subject.casefold()] = typ
    out = {}
    for t in previous.tables:
        for c in t.columns:
            if c.pg_type is None:
                continue
            key = subject(t, c).casefold()
            if key in kept or (
                designed.get(key, neutral_pg_type(c)).casefold() != c.pg_type.casefold()
            ):
                out[(t.name.casefold(), c.name.casefold())] = c.pg_type
    return out


def check_pg_type(text: str) -> str | None:
    """Why ``text`` is not a PostgreSQL type name dbfold can write into DDL, or None.

    >>> check_pg_type("numeric(10,2)"), check_pg_type("varchar(20)"), check_pg_type("x); drop")
    (None, None, "'x); drop' is not a type name")
    """
    import sqlglot
    from sqlglot.errors import SqlglotError

    if not text.strip() or any(ch in text for ch in ";\"'-\x00") or "/*" in text:
        return f"{text!r} is not a type name"
    try:
        tree = sqlglot.parse_one(f"CAST(NULL AS {text})", read="postgres")
    except SqlglotError:
        return f"{text!r} is not a type name"
    import sqlglot.expressions as exp

    if not isinstance(tree, exp.Cast):
        return f"{text!r} is not a type name"
    return None


def apply_pg_types(
    plan: Plan, facts: Facts, *, previous: Plan | None = None, probed: bool = False
) -> Plan:
    """Set ``pg_type`` on every column (:func:`choose_pg_type`), with a Decision per
    non-obvious choice; the previous decisions of rule ``postgres`` about types are replaced.

    A column whose type the user wrote (in ``previous``, or marked kept in ``plan``) keeps
    it. ``probed`` says the facts come from reading every value (the probe), which is worth
    saying in the decision about a type the values changed.
    """
    user = _user_types(previous)
    edited = edited_columns(plan)
    kept_decisions = [
        d for d in plan.decisions if not (d.rule == RULE and d.text.startswith("type "))
    ]
    new_decisions: list[Decision] = []
    tables = []
    for t in plan.tables:
        columns = []
        for c in t.columns:
            key = (t.name.casefold(), c.name.casefold())
            mine = user.get(key)
            if mine is None and key in edited and c.pg_type is not None:
                mine = c.pg_type
            if mine is not None:
                problem = check_pg_type(mine)
                if problem is not None:
                    raise DesignError(f"{subject(t, c)}: pg_type {problem}")
                columns.append(replace(c, pg_type=mine))
                new_decisions.append(Decision(RULE, subject(t, c), f"type {mine} {EDITED}"))
                continue
            choice = choose_pg_type(c, facts.get(key))
            columns.append(replace(c, pg_type=choice.pg_type))
            if choice.why is not None:
                new_decisions.append(type_decision(t, c, choice))
        tables.append(replace(t, columns=tuple(columns)))
    decisions = tuple(_dedup([*kept_decisions, *new_decisions]))
    return replace(plan, tables=tuple(tables), decisions=decisions)


def _source_column(analysis: Analysis, src: Source, path: str) -> Column | None:
    """The analysis column a source path reads (walking nested fields), or None."""
    try:
        store = analysis.store(src.store)
    except KeyError:
        return None
    table = next((x for x in store.tables if x.name == src.table), None)
    if table is None:
        return None
    cols: tuple[Column, ...] = table.columns
    if src.array is not None:
        for part in split_path(src.array):
            found = next((c for c in cols if c.name == part), None)
            if found is None:
                return None
            cols = found.fields
    col: Column | None = None
    for part in split_path(path):
        col = next((c for c in cols if c.name == part), None)
        if col is None:
            return None
        cols = col.fields
    return col


def record_facts(plan: Plan, analysis: Analysis) -> dict[tuple[str, str], ValueFacts]:
    """What the analysis recorded about the values of record-store columns (JSON, JSONL,
    CSV, TinyDB): its per-type counts. SQLite columns have none (analyze reads their
    declarations only); their facts come from the probe."""
    out: dict[tuple[str, str], ValueFacts] = {}
    for t in plan.tables:
        for src in t.sources:
            try:
                store = analysis.store(src.store)
            except KeyError:
                continue
            if store.kind == "sqlite":
                continue
            for path, target in src.columns.items():
                col = _source_column(analysis, src, path)
                plan_col = t.column(target)
                if col is None or plan_col is None:
                    continue
                facts = observed_facts(col, plan_col)
                if facts is None:
                    continue
                key = (t.name.casefold(), target.casefold())
                out[key] = out[key].merged(facts) if key in out else facts
    return out


def observed_facts(col: Column, plan_col: PlanColumn) -> ValueFacts | None:
    """Facts from one record field's observed counts, or None when it has none."""
    counts = {k: n for k, n in col.observed.items() if k != "null" and n}
    if plan_col.type == "json":
        # Kept as a JSON document (nested objects, arrays, mixes): every value is JSON.
        return ValueFacts(counts={"object": sum(counts.values()) or 1}, json_ok=True)
    if not counts:
        return None
    return ValueFacts(
        counts=counts,
        boolean_ok=set(counts) <= {"boolean"} or None,
    )


# --- defaults -----------------------------------------------------------------------------


def default_decisions(plan: Plan) -> Plan:
    """A Decision for each default PostgreSQL gets otherwise than written (replacing older
    ones), so a dropped ``datetime('now', 'localtime')`` is not a surprise."""
    decisions = [
        d for d in plan.decisions if not (d.rule == RULE and d.text.startswith("default "))
    ]
    for t in plan.tables:
        for c in t.columns:
            if c.default is None:
                continue
            got = pg_default(c)
            if got.note is not None:
                decisions.append(Decision(RULE, subject(t, c), got.note))
            elif got.sql is not None and _changed(c.default, got.sql):
                decisions.append(
                    Decision(RULE, subject(t, c), f"default {c.default} becomes {got.sql}")
                )
    return replace(plan, decisions=tuple(_dedup(decisions)))


def _changed(sqlite_sql: str, pg_sql: str) -> bool:
    try:
        return default_sql(sqlite_sql) != pg_sql
    except DesignError:
        return True

"""Plan → ``project_db.py`` source: the project's ``UnifiedDatabase`` subclass and adapters.

:func:`render_project_db` returns the source as a string (the CLI writes it). Every name
taken from the plan or the analysis reaches the generated code only inside a string literal
built by :func:`py_literal` (so a table called ``"); import os; #`` stays a string), or as a
class name reduced to ASCII letters, digits and underscores by :func:`class_name`. The
output is stable under ``ruff format`` and passes ``ruff check`` and ``mypy --strict``.
"""

from __future__ import annotations

import dataclasses
import keyword
import re

from dbfold.design import render_sql
from dbfold.model import Analysis, Interface
from dbfold.plan import Plan
from dbfold.runtime.versions import version_key

__all__ = ["class_name", "py_literal", "render_project_db"]

_WIDTH = 99  # longest line the output may have (ruff's line-length is 100)
_CLASS_ROOM = 60  # longest class name stem (a long interface name still gets its class)
_RESERVED = {
    "Any",
    "ClassVar",
    "LegacyAdapter",
    "Mapping",
    "PLAN",
    "PLAN_JSON",
    "Plan",
    "ProjectDatabase",
    "SCHEMA_SQL",
    "UnifiedDatabase",
}


def _escape(ch: str, quote: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch == quote:
        return "\\" + ch
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if ch.isprintable() and ch not in "\u2028\u2029\x85\ufeff":
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def py_literal(text: str) -> str:
    """A Python string literal for ``text``, quoted the way ``ruff format`` prefers.

    >>> py_literal('"); import os; #')
    '\\'"); import os; #\\''
    >>> eval(py_literal("a\\\\b\\n\\u2028'\\""))  == "a\\\\b\\n\\u2028'\\""
    True
    """
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + "".join(_escape(ch, quote) for ch in text) + quote


def _chunks(text: str, room: int, *, by_line: bool = True) -> list[str]:
    """Split ``text`` into pieces whose literals fit in ``room`` characters (lines first,
    unless ``by_line`` is false)."""
    pieces: list[str] = []
    for line in text.splitlines(keepends=True) if by_line else [text]:
        current = ""
        for ch in line:
            if current and len(py_literal(current + ch)) > room:
                pieces.append(current)
                current = ""
            current += ch
        if current:
            pieces.append(current)
    return pieces


def _assign(name: str, text: str, indent: str = "") -> list[str]:
    """``NAME = "…"`` on one line, or as an implicit concatenation over several lines.

    At module level (no ``indent``) a text of several lines is split at its line ends; a
    class attribute (``indent`` of four spaces) only where it is too long for one line.
    """
    single = f"{indent}{name} = {py_literal(text)}"
    by_line = not indent
    if len(single) <= _WIDTH and not (by_line and "\n" in text.rstrip("\n")):
        return [single]
    parts = _chunks(text, _WIDTH - 4 - len(indent), by_line=by_line)
    if len(parts) == 1 and len(f"{indent}{name} = {py_literal(parts[0])}") <= _WIDTH:
        return [f"{indent}{name} = {py_literal(parts[0])}"]
    if not parts:
        return [single]
    return [f"{indent}{name} = (", *(f"{indent}    {py_literal(p)}" for p in parts), f"{indent})"]


def class_name(name: str, taken: set[str]) -> str:
    """A safe, unique class name ``<Name>Adapter`` for an interface name.

    >>> class_name("get_connection", set()), class_name('"); import os; #', set())
    ('GetConnectionAdapter', 'ImportOsAdapter')
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name) if w]
    base = "".join(w[:1].upper() + w[1:] for w in words) or "Interface"
    if base[0].isdigit():
        base = "Interface" + base
    base = base[:_CLASS_ROOM]  # `class <Name>Adapter(LegacyAdapter):` stays on one line
    candidate = base + "Adapter"
    n = 2
    while candidate in taken or candidate in _RESERVED or keyword.iskeyword(candidate):
        candidate = f"{base}{n}Adapter"
        n += 1
    taken.add(candidate)
    return candidate


def _safe_text(text: str) -> str:
    """Text for a docstring: printable ASCII without quotes or backslashes."""
    return re.sub(r"[^A-Za-z0-9_./:, ()-]", "?", text)[:60]


def _kind(analysis: Analysis, store: str) -> str:
    try:
        return analysis.store(store).kind
    except KeyError:
        return "unknown"


def _adapter(cls: str, iface: Interface, key: str, analysis: Analysis) -> list[str]:
    stores = ", ".join(
        f"{py_literal(s)}: {py_literal(_kind(analysis, s))}" for s in dict.fromkeys(iface.stores)
    )
    lines = [
        "",
        "",
        f"class {cls}(LegacyAdapter):",
        f'    """Adapter for the legacy {_safe_text(iface.kind)} at '
        f'{_safe_text(iface.path)}:{iface.line}."""',
        "",
    ]
    # A string attribute too long for one line is split into pieces (never cut by
    # _wrap_assignment, which breaks containers at their commas).
    lines += _assign("INTERFACE: ClassVar[str]", key, "    ")
    lines += _assign("SOURCE: ClassVar[str]", f"{iface.path}:{iface.line}", "    ")
    body = [f"STORES: ClassVar[Mapping[str, str]] = {{{stores}}}"]
    tables = [py_literal(t) for t in iface.tables]
    tuple_text = "(" + ", ".join(tables) + ("," if len(tables) == 1 else "") + ")"
    body.append(f"TABLES: ClassVar[tuple[str, ...]] = {tuple_text}")
    body.append("PLAN: ClassVar[Plan | None] = PLAN")
    for line in body:
        text = "    " + line
        if len(text) <= _WIDTH:
            lines.append(text)
        else:
            lines.extend(_wrap_assignment(line))
    return lines


def _wrap_assignment(line: str) -> list[str]:
    """Break an over-long ``NAME: T = {…}`` / ``(…)`` class attribute one item per line."""
    head, _, value = line.partition(" = ")
    opener, closer = value[0], value[-1]
    items = _split_items(value[1:-1])
    out = [f"    {head} = {opener}"]
    out += [f"        {item.strip()}," for item in items if item.strip()]
    out.append(f"    {closer}")
    return out


def _split_items(text: str) -> list[str]:
    """Split ``a, b: c, …`` at commas outside string literals."""
    items, current, quote, escape = [], "", "", False
    for ch in text:
        if quote:
            current += ch
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
            current += ch
        elif ch == ",":
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return items


def render_project_db(plan: Plan, analysis: Analysis, *, schema_version: str = "1.0.0") -> str:
    """Render ``project_db.py`` for a plan.

    The module holds the unified DDL (``render_sql(plan)``), the plan itself (the adapters
    translate with it, so code and schema never disagree), one ``LegacyAdapter`` subclass
    per interface found by ``analyze``, and ``ProjectDatabase``. Opening ``ProjectDatabase``
    on a target that already holds this schema (a migrated target) changes nothing.

    Args:
        plan: The plan.
        analysis: The analysis (interfaces and store kinds).
        schema_version: ``ProjectDatabase.SCHEMA_VERSION``.

    Returns:
        The source of ``project_db.py``.

    Raises:
        SchemaError: If ``schema_version`` is not a dotted version.
    """
    version_key(schema_version, "schema_version")
    lean = dataclasses.replace(plan, decisions=(), suggestions=(), notes=())
    plan_json = lean.to_json(indent=False).decode("utf-8")
    lines = [
        '"""The unified database of this project, and adapters for its legacy code.',
        "",
        "Generated by ``dbfold implement`` from ``.dbfold/plan.json``: edit the plan and run",
        "``dbfold implement`` again instead of changing this file.",
        "",
        '    with ProjectDatabase("data/unified.db") as db:',
        '        conn = db.adapter("ActionTracker").connect()  # speaks the legacy schema',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping",
        "from typing import Any, ClassVar",
        "",
        "from dbfold.adapters import LegacyAdapter",
        "from dbfold.plan import Plan",
        "from dbfold.runtime import UnifiedDatabase",
        "",
    ]
    lines += _assign("SCHEMA_SQL", render_sql(plan))
    lines.append("")
    lines += _assign("PLAN_JSON", plan_json)
    lines += ["", "PLAN = Plan.from_json(PLAN_JSON)"]
    taken: set[str] = set()
    unique = list({(i.name, i.path, i.line): i for i in analysis.interfaces}.values())
    names: dict[str, int] = {}
    for iface in unique:
        names[iface.name] = names.get(iface.name, 0) + 1
    registry: list[tuple[str, str]] = []
    for iface in unique:
        key = iface.name if names[iface.name] == 1 else f"{iface.name}@{iface.path}:{iface.line}"
        cls = class_name(iface.name, taken)
        lines += _adapter(cls, iface, key, analysis)
        registry.append((key, cls))
    lines += [
        "",
        "",
        "class ProjectDatabase(UnifiedDatabase):",
        '    """The project\'s unified database: schema, version and legacy adapters."""',
        "",
        f"    SCHEMA_VERSION: ClassVar[str | None] = {py_literal(schema_version)}",
        "",
        "    def get_schema(self) -> str:",
        '        """The unified schema (``unified.sql``)."""',
        "        return SCHEMA_SQL",
        "",
        "    def get_adapters(self) -> dict[str, type[Any]]:",
        '        """One adapter class per legacy interface, by interface name."""',
    ]
    if registry:
        lines.append("        return {")
        for key, cls in registry:
            entry = f"            {py_literal(key)}: {cls},"
            if len(entry) > _WIDTH:
                lines += [
                    f"            {py_literal(key)}: (",
                    f"                {cls}",
                    "            ),",
                ]
            else:
                lines.append(entry)
        lines.append("        }")
    else:
        lines.append("        return {}")
    lines += [
        "",
        "    def adapter(self, name: str) -> LegacyAdapter:",
        '        """The adapter of the legacy interface ``name``, on this database."""',
        "        adapter: LegacyAdapter = self.get_adapters()[name](self)",
        "        return adapter",
        "",
    ]
    return "\n".join(lines)

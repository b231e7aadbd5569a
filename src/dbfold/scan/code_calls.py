"""Calls that open data stores, and the path argument each one opens.

Direct openers take the path (``sqlite3.connect(P)``, ``shelve.open(P)``, ``TinyDB(P)``);
handle consumers take a file object and are traced back to the ``open(P)`` that made it
(``json.load(f)`` inside ``with open(P) as f``, ``csv.reader(f)``, ``pickle.dump(x, f)``);
JSON Lines are recognised from ``json.loads(line)`` in a loop over a file and from
``f.write(json.dumps(x) + "\\n")``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from dbfold.scan.code_index import FunctionNode, Module, function_body_nodes, qualname

#: Callee → (api name, position of the path argument, its keyword name).
DIRECT: dict[str, tuple[str, int, str]] = {
    "sqlite3.connect": ("sqlite3.connect", 0, "database"),
    "sqlite3.dbapi2.connect": ("sqlite3.connect", 0, "database"),
    "aiosqlite.connect": ("aiosqlite.connect", 0, "database"),
    "shelve.open": ("shelve.open", 0, "filename"),
    "dbm.open": ("dbm.open", 0, "file"),
    "dbm.gnu.open": ("dbm.open", 0, "filename"),
    "dbm.ndbm.open": ("dbm.open", 0, "filename"),
    "dbm.dumb.open": ("dbm.open", 0, "file"),
    "dbm.sqlite3.open": ("dbm.open", 0, "filename"),
    "tinydb.TinyDB": ("tinydb.TinyDB", 0, "path"),
    "tinydb.database.TinyDB": ("tinydb.TinyDB", 0, "path"),
    "sqlalchemy.create_engine": ("sqlalchemy.create_engine", 0, "url"),
    "peewee.SqliteDatabase": ("peewee.SqliteDatabase", 0, "database"),
    "playhouse.sqlite_ext.SqliteExtDatabase": ("peewee.SqliteDatabase", 0, "database"),
    "pandas.read_csv": ("pandas.read_csv", 0, "filepath_or_buffer"),
    "pandas.read_json": ("pandas.read_json", 0, "path_or_buf"),
}

#: Callee → (position of the file object, its keyword name); the api is the callee.
HANDLE: dict[str, tuple[int, str]] = {
    "json.load": (0, "fp"),
    "json.dump": (1, "fp"),
    "pickle.load": (0, "file"),
    "pickle.dump": (1, "file"),
    "csv.reader": (0, "csvfile"),
    "csv.writer": (0, "csvfile"),
    "csv.DictReader": (0, "f"),
    "csv.DictWriter": (0, "f"),
}

#: APIs whose path is a SQLite file name or URI.
SQLITE_APIS = frozenset({"sqlite3.connect", "aiosqlite.connect", "peewee.SqliteDatabase"})

_OPEN = frozenset({"open", "io.open", "codecs.open", "builtins.open"})
_DUMPS = frozenset({"json.dumps", "orjson.dumps"})
# Calls that pass a file's lines (or text) through unchanged for our purpose.
_THROUGH = frozenset({"read", "readlines", "splitlines", "split", "strip", "rstrip", "decode"})
_WRAPPERS = frozenset({"enumerate", "iter", "reversed", "list", "sorted", "tuple"})


@dataclass(frozen=True)
class Site:
    """Where a node sits: its top-level unit, innermost class, method and function."""

    unit: ast.ClassDef | FunctionNode | None = None  # None: module level
    cls: ast.ClassDef | None = None
    method: FunctionNode | None = None  # the function directly inside ``cls``
    func: FunctionNode | None = None  # the innermost function


@dataclass(frozen=True)
class Opening:
    """One store-opening call: its api and the expression of the path it opens."""

    api: str
    path: ast.expr
    call: ast.Call


def walk_sites(mod: Module) -> Iterator[tuple[ast.AST, Site]]:
    """Every node of the module with the site it appears in."""
    stack: list[tuple[ast.AST, Site]] = [(n, Site()) for n in reversed(mod.tree.body)]
    while stack:
        node, site = stack.pop()
        yield node, site
        inner = site
        if isinstance(node, ast.ClassDef):
            inner = Site(site.unit or node, node, None, None)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_class_body = site.cls is not None and site.func is None
            method = node if in_class_body else site.method
            inner = Site(site.unit or node, site.cls, method, node)
        stack.extend((child, inner) for child in reversed(list(ast.iter_child_nodes(node))))


# Nodes that hold no call: :func:`walk_calls` does not look inside them.
_NO_CALLS = (
    ast.Constant,
    ast.Name,
    ast.expr_context,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
    ast.boolop,
    ast.alias,
    ast.Pass,
    ast.Break,
    ast.Continue,
    ast.Global,
    ast.Nonlocal,
    ast.Import,
    ast.ImportFrom,
)
# Fields that never hold a node that may hold a call (names, flags, operators, contexts).
_NOT_CHILDREN = frozenset(
    {"ctx", "op", "id", "attr", "arg", "module", "level", "conversion", "is_async", "kind"}
    | {"type_comment", "name", "names", "rest", "kwd_attrs", "tag"}
)
_PLANS: dict[type, tuple[str, ...]] = {}


def _plan(kind: type) -> tuple[str, ...]:
    """The fields of a node type to look for calls in; () for a type that holds none."""
    plan = _PLANS.get(kind)
    if plan is None:
        if not issubclass(kind, ast.AST) or issubclass(kind, _NO_CALLS):
            plan = ()  # also for the None and names some lists hold
        else:
            plan = tuple(f for f in kind._fields if f not in _NOT_CHILDREN)
        _PLANS[kind] = plan
    return plan


def walk_calls(mod: Module) -> Iterator[tuple[ast.Call, Site]]:
    """Every call of the module with its site: :func:`walk_sites`'s calls, in its order.

    The code scan's hot loop, hence written out: no generator per node, and nothing is
    looked into that cannot hold a call.
    """
    top = Site()
    plans = _PLANS
    stack: list[tuple[ast.AST, Site]] = [(n, top) for n in reversed(mod.tree.body)]
    pop, push = stack.pop, stack.append
    while stack:
        node, site = pop()
        kind = type(node)
        plan = plans.get(kind)
        if plan is None:
            plan = _plan(kind)
        if not plan:
            continue
        if kind is ast.Call:
            yield node, site  # type: ignore[misc]
        elif kind is ast.ClassDef:
            site = Site(site.unit or node, node, None, None)  # type: ignore[arg-type]
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            in_class_body = site.cls is not None and site.func is None
            method = node if in_class_body else site.method
            site = Site(site.unit or node, site.cls, method, node)  # type: ignore[arg-type]
        children: list[ast.AST] = []
        for name in plan:
            value = getattr(node, name, None)
            if type(value) is list:
                children.extend(value)
            elif value is not None:
                children.append(value)
        for child in reversed(children):
            push((child, site))


def ref_tokens(node: ast.expr, mod: Module) -> tuple[str, ...]:
    """The names a callee or base class expression can reach a project definition by.

    A name reaches the function or class of that name or the one it imports; an attribute
    reaches a function, method or class of that name. (What :mod:`~dbfold.scan.code_callers`
    resolves always has one of these names.)
    """
    if isinstance(node, ast.Name):
        target = mod.imports.get(node.id)
        return (node.id, target.rpartition(".")[2]) if target else (node.id,)
    if isinstance(node, ast.Attribute):
        return (node.attr,)
    return ()


def used_names(mod: Module) -> set[str]:
    """The :func:`ref_tokens` of every call and every class base in the module."""
    found: set[str] = set()
    plans = _PLANS
    stack: list[ast.AST] = list(mod.tree.body)
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        kind = type(node)
        plan = plans.get(kind)
        if plan is None:
            plan = _plan(kind)
        if not plan:
            continue
        if kind is ast.Call:
            found.update(ref_tokens(node.func, mod))  # type: ignore[attr-defined]
        elif kind is ast.ClassDef:
            for base in node.bases:  # type: ignore[attr-defined]
                found.update(ref_tokens(base, mod))
        for name in plan:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    push(item)
            elif value is not None:
                push(value)
    return found


def find_openings(mod: Module) -> Iterator[tuple[Opening, Site]]:
    """Every store-opening call in ``mod``, once per (api, path expression)."""
    seen: set[tuple[str, int]] = set()
    for node, site in walk_calls(mod):
        found = _opening(node, mod, site)
        if found is not None and (found.api, id(found.path)) not in seen:
            seen.add((found.api, id(found.path)))
            yield found, site


def argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    """The argument at ``index`` or passed as ``keyword``; None if absent or starred."""
    if len(call.args) > index and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def _opening(call: ast.Call, mod: Module, site: Site) -> Opening | None:
    q = qualname(call.func, mod) or ""
    if q in DIRECT:
        api, index, keyword = DIRECT[q]
        arg = argument(call, index, keyword)
        return Opening(api, arg, call) if arg is not None else None
    if q in HANDLE:
        index, keyword = HANDLE[q]
        handle = argument(call, index, keyword)
        path = _source_path(handle, mod, site, call, 0) if handle is not None else None
        return Opening(q, path, call) if path is not None else None
    if q in ("json.loads", "orjson.loads") and call.args:
        return _loads(call, mod, site)
    if isinstance(call.func, ast.Attribute) and call.args:
        return _writes(call, call.func, mod, site)
    if q == "print":
        handle = argument(call, 1 << 10, "file")
        if handle is not None and any(_mentions_dumps(a, mod, site) for a in call.args):
            path = _source_path(handle, mod, site, call, 0)
            return Opening("jsonl", path, call) if path is not None else None
    return None


def _loads(call: ast.Call, mod: Module, site: Site) -> Opening | None:
    """``json.loads(line)`` over a file's lines (JSONL) or ``json.loads(Path(P).read_text())``."""
    arg = _unwrap_text(call.args[0])
    if isinstance(arg, ast.Name):
        loop = _loop_iterable(arg.id, call, mod)
        if loop is not None:
            path = _source_path(loop, mod, site, call, 0)
            return Opening("jsonl", path, call) if path is not None else None
        bound = _handle_binding(arg.id, call, mod, site)
        if bound is None:
            return None
        arg = _unwrap_text(bound)
    if isinstance(arg, ast.Call):
        path = _source_path(arg, mod, site, call, 0)
        return Opening("json.loads", path, call) if path is not None else None
    return None


def _writes(call: ast.Call, func: ast.Attribute, mod: Module, site: Site) -> Opening | None:
    """``f.write(json.dumps(x) + "\\n")`` (JSONL) and ``Path(P).write_text(json.dumps(x))``."""
    if func.attr not in ("write", "writelines", "write_text"):
        return None
    if not _mentions_dumps(call.args[0], mod, site):
        return None
    if func.attr == "write_text":
        return Opening("json.dumps", func.value, call)
    path = _source_path(func.value, mod, site, call, 0)
    return Opening("jsonl", path, call) if path is not None else None


def _unwrap_text(node: ast.expr) -> ast.expr:
    """``line.strip()`` → ``line``: string clean-ups do not change where text came from."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("strip", "rstrip", "lstrip", "decode")
    ):
        node = node.func.value
    return node


def _source_path(
    node: ast.expr, mod: Module, site: Site, use: ast.AST, depth: int
) -> ast.expr | None:
    """The path expression a file object, its text or its lines were opened from."""
    if depth > 8:
        return None
    if isinstance(node, ast.Call):
        q = qualname(node.func, mod) or ""
        if q in _OPEN:
            return argument(node, 0, "file")
        if q in _WRAPPERS and node.args:
            return _source_path(node.args[0], mod, site, use, depth + 1)
        if isinstance(node.func, ast.Attribute) and q not in DIRECT:
            attr = node.func.attr
            receiver = node.func.value
            if attr == "open" and isinstance(receiver, ast.Name) and receiver.id in mod.imports:
                return argument(node, 0, "filename")  # ``gzip.open(P)``: a module function
            if attr in ("open", "read_text", "read_bytes"):
                return receiver  # ``Path(P).open()``: the receiver is the path
            if attr in _THROUGH:
                return _source_path(node.func.value, mod, site, use, depth + 1)
        return None
    if isinstance(node, ast.Name):
        bound = _handle_binding(node.id, use, mod, site)
        return _source_path(bound, mod, site, use, depth + 1) if bound is not None else None
    return None


def _scope_nodes(mod: Module, site: Site) -> Iterator[ast.AST]:
    if site.func is not None:
        return function_body_nodes(site.func)
    return function_body_nodes(mod.tree)


def _handle_binding(name: str, use: ast.AST, mod: Module, site: Site) -> ast.expr | None:
    """What ``name`` was last bound to before ``use``: ``with X as name`` or ``name = X``."""
    line = getattr(use, "lineno", 1 << 30)
    best: tuple[int, ast.expr] | None = None
    for node in _scope_nodes(mod, site):
        candidate: ast.expr | None = None
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            if node.optional_vars.id == name:
                candidate = node.context_expr
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id == name:
                candidate = node.value
        if (
            candidate is not None
            and candidate.lineno <= line
            and (best is None or candidate.lineno >= best[0])
        ):
            best = (candidate.lineno, candidate)
    return best[1] if best else None


def _loop_iterable(name: str, node: ast.AST, mod: Module) -> ast.expr | None:
    """The iterable of the ``for`` loop or comprehension around ``node`` that binds ``name``."""
    current: ast.AST | None = node
    while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
        parent = mod.parent(current)
        if (
            isinstance(parent, (ast.For, ast.AsyncFor))
            and current is not parent.iter
            and _binds(parent.target, name)
        ):
            return parent.iter
        if isinstance(parent, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for gen in parent.generators:
                if _binds(gen.target, name):
                    return gen.iter
        current = parent
    return None


def _binds(target: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target))


def _mentions_dumps(node: ast.expr, mod: Module, site: Site) -> bool:
    """Whether ``node`` builds its text with ``json.dumps`` (directly or via one variable)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and (qualname(sub.func, mod) or "") in _DUMPS:
            return True
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            bound = _handle_binding(sub.id, node, mod, site)
            if bound is not None and any(
                isinstance(c, ast.Call) and (qualname(c.func, mod) or "") in _DUMPS
                for c in ast.walk(bound)
            ):
                return True
    return False

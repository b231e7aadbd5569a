"""Static evaluation of path expressions: constants, joins, ``__file__`` and friends.

The evaluator computes the value an expression would have when the program runs, where
that is knowable without running it: literals, module constants (also imported from other
project modules), class and instance attributes, parameter defaults, ``os.path`` and
``pathlib`` joins, f-strings and ``+``/``%`` of constants. Anything else gives None. Values
derived from ``__file__`` are absolute and flagged ``anchored``.
"""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass, replace

from dbfold.scan.code_index import (
    FunctionNode,
    Module,
    ProjectIndex,
    base_classes,
    class_ref,
    first_param,
    function_body_nodes,
    qualname,
)

#: Deep enough for real constant chains; stops self-referential assignments.
MAX_DEPTH = 40
#: "After every line": module globals as seen from inside functions.
END = 1 << 30

_JOIN = frozenset({"os.path.join", "posixpath.join", "ntpath.join"})
_SAME = frozenset({"str", "os.fspath", "os.path.normpath", "os.path.abspath", "os.path.realpath"})
_PATH_TYPES = frozenset(
    {
        "Path",
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "pathlib.WindowsPath",
        "pathlib.PureWindowsPath",
    }
)
_CWD = frozenset({"os.getcwd", "pathlib.Path.cwd", "Path.cwd"})
_GETENV = frozenset({"os.getenv", "os.environ.get"})
# Path methods that do not change which file a relative path names.
_SAME_METHODS = frozenset({"resolve", "absolute", "as_posix", "expanduser", "__str__"})
_STR_METHODS = frozenset({"strip", "rstrip", "lstrip", "lower", "upper", "replace", "format"})


@dataclass(frozen=True)
class Val:
    """A statically known value; ``anchored`` when it was built from ``__file__``."""

    value: object
    anchored: bool = False


@dataclass(frozen=True)
class Scope:
    """Where an expression is evaluated.

    ``func`` is the innermost function (its locals and parameters), ``method`` the function
    directly inside ``cls`` (whose first parameter is ``self``), ``line`` the cut-off for
    assignments that already happened.
    """

    module: Module
    cls: ast.ClassDef | None = None
    func: FunctionNode | None = None
    method: FunctionNode | None = None
    line: int = END


@dataclass(frozen=True)
class ParamRef:
    """A parameter without default whose argument decides a path (the caller knows it)."""

    module: Module
    cls: ast.ClassDef | None
    func: FunctionNode
    param: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity independent of object identity: file, class, function, parameter."""
        return (self.module.rel, self.cls.name if self.cls else "", self.func.name, self.param)


class Evaluator:
    """Evaluates expressions of one project; see the module docstring for what it knows."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        #: Parameters without a default met by the last :meth:`evaluate` call.
        self.missing: list[ParamRef] = []

    def evaluate(self, node: ast.expr, scope: Scope) -> Val | None:
        """The value of ``node`` in ``scope``, or None when it is not static."""
        self.missing = []
        return self._eval(node, scope, 0)

    # -- expressions -------------------------------------------------------------------

    def _eval(self, node: ast.expr, scope: Scope, depth: int) -> Val | None:
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, ast.Constant):
            ok = node.value is None or isinstance(node.value, (str, int, float, bool))
            return Val(node.value) if ok else None
        if isinstance(node, ast.JoinedStr):
            return self._fstring(node, scope, d)
        if isinstance(node, ast.BinOp):
            return self._binop(node, scope, d)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            last: Val | None = None
            for item in node.values:
                last = self._eval(item, scope, d)
                if last is None or last.value:
                    return last
            return last
        if isinstance(node, ast.Name):
            return self._name(node.id, scope, d)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, scope, d)
        if isinstance(node, ast.Call):
            return self._call(node, scope, d)
        if isinstance(node, ast.Subscript):
            base = self._eval(node.value, scope, d)
            key = self._eval(node.slice, scope, d)
            if base is not None and key is not None and isinstance(base.value, dict):
                found = base.value.get(key.value)
                return found if isinstance(found, Val) else None
            return None
        if isinstance(node, ast.Dict):
            table: dict[object, Val | None] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                key = self._eval(k, scope, d) if k is not None else None
                if key is None:
                    return None
                table[key.value] = self._eval(v, scope, d)
            return Val(table)
        if isinstance(node, ast.Tuple):
            items = [self._eval(e, scope, d) for e in node.elts]
            if any(i is None for i in items):
                return None
            return Val(tuple(i.value for i in items if i is not None))
        return None

    def _fstring(self, node: ast.JoinedStr, scope: Scope, d: int) -> Val | None:
        parts: list[str] = []
        anchored = False
        for item in node.values:
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                parts.append(item.value)
                continue
            if not isinstance(item, ast.FormattedValue) or item.format_spec is not None:
                return None
            if item.conversion not in (-1, ord("s")):
                return None
            val = self._eval(item.value, scope, d)
            if val is None or not isinstance(val.value, (str, int, float)):
                return None
            parts.append(str(val.value))
            anchored = anchored or val.anchored
        return Val("".join(parts), anchored)

    def _binop(self, node: ast.BinOp, scope: Scope, d: int) -> Val | None:
        left = self._eval(node.left, scope, d)
        right = self._eval(node.right, scope, d)
        if left is None or right is None:
            return None
        a, b = left.value, right.value
        anchored = left.anchored or right.anchored
        if isinstance(node.op, ast.Div) and isinstance(a, str) and isinstance(b, str):
            return Val(posixpath.join(a, b), anchored)  # pathlib's ``/``
        if isinstance(node.op, ast.Add) and isinstance(a, str) and isinstance(b, str):
            return Val(a + b, anchored)
        if isinstance(node.op, ast.Mod) and isinstance(a, str):
            try:
                return Val(a % b, anchored)
            except (TypeError, ValueError, KeyError):
                return None
        return None

    # -- names and attributes ------------------------------------------------------------

    def _name(self, name: str, scope: Scope, d: int) -> Val | None:
        if name == "__file__":
            return Val(str(scope.module.path), anchored=True)
        func = scope.func
        while func is not None:
            found = _local_binding(func, name, scope.line)
            if found is not None:
                line, value = found
                if isinstance(value, ast.expr):
                    return self._eval(value, replace(scope, func=func, line=line), d)
                if isinstance(value, str):  # a function-level ``from config import X``
                    return self._imported(value, scope.module, d)
                return None  # a loop variable, ``with … as`` target: not static
            has_param, default = _param(func, name)
            if has_param:
                if default is None:
                    self.missing.append(ParamRef(scope.module, scope.cls, func, name))
                    return None
                # Defaults are evaluated where the ``def`` is: the class body or the module.
                owner = scope.cls if func is scope.method else None
                return self._eval(default, Scope(scope.module, owner, line=func.lineno), d)
            func = _enclosing_function(scope.module, func)
            scope = replace(scope, line=END)
        if scope.cls is not None and scope.func is None:
            found_cls = _class_binding(scope.cls, name, scope.line)
            if found_cls is not None:
                line, value = found_cls
                return self._eval(value, replace(scope, line=line), d)
        at = scope.line if scope.func is None and scope.cls is None else END
        return self._module_name(scope.module, name, at, d)

    def _module_name(self, mod: Module, name: str, line: int, d: int) -> Val | None:
        assigns = [(n, v) for n, v in mod.assigns.get(name, []) if n < line]
        if assigns:
            n, value = assigns[-1]
            return self._eval(value, Scope(mod, line=n), d)
        target = mod.imports.get(name)
        return self._imported(target, mod, d) if target else None

    def _imported(self, target: str, mod: Module, d: int) -> Val | None:
        found = self.index.resolve_import(target, mod)
        if found is None or d > MAX_DEPTH:
            return None
        return self._module_name(found[0], found[1], END, d + 1)

    def _attribute(self, node: ast.Attribute, scope: Scope, d: int) -> Val | None:
        owner = node.value
        mod = scope.module
        if isinstance(owner, ast.Name):
            if scope.cls is not None and owner.id == first_param(scope.method):
                return self._self_attr(mod, scope.cls, node.attr, scope, d)
            if (owner.id, node.attr) == ("os", "sep"):
                return Val("/")
            ref = class_ref(self.index, owner.id, mod)
            if ref is not None:
                return self._class_attr(ref[0], ref[1], node.attr, d)
        if isinstance(owner, (ast.Name, ast.Attribute)):
            dotted = qualname(owner, mod)
            head = dotted.partition(".")[0] if dotted else ""
            if dotted and _leftmost(owner) in mod.imports and head not in ("os", "pathlib"):
                target = self.index.find_module(dotted, mod)
                if target is not None:
                    return self._module_name(target, node.attr, END, d)
        base = self._eval(owner, scope, d)
        if base is None or not isinstance(base.value, str):
            return None
        path = base.value
        if node.attr == "parent":
            return Val(posixpath.dirname(posixpath.normpath(path)), base.anchored)
        if node.attr == "name":
            return Val(posixpath.basename(path))
        if node.attr == "stem":
            return Val(posixpath.splitext(posixpath.basename(path))[0])
        if node.attr == "suffix":
            return Val(posixpath.splitext(path)[1])
        return None

    def _self_attr(
        self, mod: Module, cls: ast.ClassDef, attr: str, scope: Scope, d: int
    ) -> Val | None:
        """``self.attr``: an assignment in a method (``__init__`` first), else class level."""
        for method, line, value in _self_assignments(cls, attr, scope):
            method_scope = Scope(mod, cls, method, method, line)
            return self._eval(value, method_scope, d)
        return self._class_attr(mod, cls, attr, d)

    def _class_attr(self, mod: Module, cls: ast.ClassDef, attr: str, d: int) -> Val | None:
        found = _class_binding(cls, attr, END)
        if found is not None:
            return self._eval(found[1], Scope(mod, cls, line=found[0]), d)
        if d > MAX_DEPTH:
            return None
        for base_mod, base in base_classes(self.index, mod, cls):
            val = self._class_attr(base_mod, base, attr, d + 1)
            if val is not None:
                return val
        return None

    # -- calls ---------------------------------------------------------------------------

    def _call(self, node: ast.Call, scope: Scope, d: int) -> Val | None:
        if any(isinstance(a, ast.Starred) for a in node.args):
            return None
        q = qualname(node.func, scope.module) or ""
        if q in _CWD:
            return Val(".")
        if q in _GETENV:
            # The default is what runs when the variable is unset: a best guess, not a fact.
            if len(node.args) > 1:
                return self._eval(node.args[1], scope, d)
            for kw in node.keywords:
                if kw.arg == "default":
                    return self._eval(kw.value, scope, d)
            return None
        args = [self._eval(a, scope, d) for a in node.args]
        strs = [a.value for a in args if a is not None and isinstance(a.value, str)]
        anchored = any(a is not None and a.anchored for a in args)
        complete = len(strs) == len(node.args)
        if q in _JOIN or q in _PATH_TYPES:
            if not complete:
                return None
            return Val(posixpath.join(*strs) if strs else ".", anchored)
        if q in _SAME or q == "os.path.dirname" or q == "os.path.expanduser":
            if len(strs) != 1 or not complete:
                return None
            if q == "os.path.dirname":
                return Val(posixpath.dirname(strs[0]), anchored)
            if q == "os.path.expanduser" and strs[0].startswith("~"):
                return None  # depends on who runs it
            return Val(posixpath.normpath(strs[0]) if q != "str" else strs[0], anchored)
        if isinstance(node.func, ast.Attribute):
            return self._method(node, node.func, scope, d, strs if complete else None)
        return None

    def _method(
        self, node: ast.Call, func: ast.Attribute, scope: Scope, d: int, args: list[str] | None
    ) -> Val | None:
        base = self._eval(func.value, scope, d)
        if base is None or not isinstance(base.value, str) or args is None:
            return None
        path, name = base.value, func.attr
        if name in _SAME_METHODS:
            if name == "expanduser" and path.startswith("~"):
                return None
            return Val(posixpath.normpath(path) if name != "__str__" else path, base.anchored)
        if name == "joinpath":
            return Val(posixpath.join(path, *args), base.anchored)
        if name == "with_suffix" and len(args) == 1:
            return Val(posixpath.splitext(path)[0] + args[0], base.anchored)
        if name == "with_name" and len(args) == 1:
            return Val(posixpath.join(posixpath.dirname(path), args[0]), base.anchored)
        if name in _STR_METHODS:
            kwargs: dict[str, object] = {}
            for kw in node.keywords:
                val = self._eval(kw.value, scope, d) if kw.arg else None
                if val is None or kw.arg is None:
                    return None
                kwargs[kw.arg] = val.value
            try:
                return Val(getattr(path, name)(*args, **kwargs), base.anchored)
            except (TypeError, ValueError, KeyError, IndexError):
                return None
        return None


# -- bindings ------------------------------------------------------------------------------


def _leftmost(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _local_binding(
    func: FunctionNode, name: str, line: int
) -> tuple[int, ast.expr | str | None] | None:
    """The last binding of ``name`` in ``func`` before ``line``.

    The value is the assigned expression, an import target (str), or None for bindings
    whose value is not an expression (loop variables, ``with … as``, unpacking).
    """
    best: tuple[int, ast.expr | str | None] | None = None

    def consider(at: int, value: ast.expr | str | None) -> None:
        nonlocal best
        if at < line and (best is None or at >= best[0]):
            best = (at, value)

    for node in function_body_nodes(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    consider(node.lineno, node.value)
                elif isinstance(target, (ast.Tuple, ast.List)) and _binds(target, name):
                    consider(node.lineno, None)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and _binds(node.target, name):
            if isinstance(node, ast.AugAssign):
                combined = ast.BinOp(
                    left=ast.Name(id=name, ctx=ast.Load()), op=node.op, right=node.value
                )
                consider(node.lineno, combined)
            else:
                consider(node.lineno, node.value)
        elif isinstance(node, ast.NamedExpr) and node.target.id == name:
            consider(node.lineno, node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor)) and _binds(node.target, name):
            consider(node.lineno, None)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            if _binds(node.optional_vars, name):
                consider(node.context_expr.lineno, None)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    consider(node.lineno, f"{node.module}.{alias.name}")
    return best


def _binds(target: ast.expr, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target))


def _param(func: FunctionNode, name: str) -> tuple[bool, ast.expr | None]:
    """Whether ``name`` is a parameter of ``func``, and its default expression."""
    a = func.args
    positional = a.posonlyargs + a.args
    offset = len(positional) - len(a.defaults)
    for i, arg in enumerate(positional):
        if arg.arg == name:
            return True, a.defaults[i - offset] if i >= offset else None
    for arg, default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        if arg.arg == name:
            return True, default
    for extra in (a.vararg, a.kwarg):
        if extra is not None and extra.arg == name:
            return True, None
    return False, None


def _enclosing_function(mod: Module, func: FunctionNode) -> FunctionNode | None:
    """The function ``func`` is nested in, if no class or the module comes first."""
    found: FunctionNode | None = None
    for node in mod.ancestors(func):  # outermost first: the innermost one decides
        if isinstance(node, (ast.Module, ast.ClassDef)):
            found = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found = node
    return found


def _class_binding(cls: ast.ClassDef, name: str, line: int) -> tuple[int, ast.expr] | None:
    found: tuple[int, ast.expr] | None = None
    for stmt in cls.body:
        if stmt.lineno >= line:
            break
        if isinstance(stmt, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets):
                found = (stmt.lineno, stmt.value)
        elif (
            isinstance(stmt, ast.AnnAssign)
            and stmt.value is not None
            and isinstance(stmt.target, ast.Name)
            and stmt.target.id == name
        ):
            found = (stmt.lineno, stmt.value)
    return found


def _self_assignments(
    cls: ast.ClassDef, attr: str, scope: Scope
) -> list[tuple[FunctionNode, int, ast.expr]]:
    """Assignments ``self.attr = …`` in ``cls``'s methods, most relevant first.

    The current method's own earlier assignment wins, then ``__init__``'s last one, then
    the last one in any other method.
    """
    ranked: list[tuple[int, FunctionNode, int, ast.expr]] = []
    for method in cls.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        me = first_param(method)
        if me is None:
            continue
        current = method is scope.method
        for node in function_body_nodes(method):
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if (
                    isinstance(t, ast.Attribute)
                    and t.attr == attr
                    and isinstance(t.value, ast.Name)
                    and t.value.id == me
                ):
                    if current and node.lineno >= scope.line:
                        continue
                    rank = 0 if current else (1 if method.name == "__init__" else 2)
                    # Later lines first within a method: the last assignment is what sticks.
                    ranked.append((rank * END - node.lineno, method, node.lineno, node.value))
    ranked.sort(key=lambda r: r[0])
    return [(m, line, v) for _, m, line, v in ranked]

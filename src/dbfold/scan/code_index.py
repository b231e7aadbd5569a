"""Parsed modules of a project and the names they bind, for the static code scan.

A :class:`Module` is one parsed ``.py`` file with its module-level bindings (assignments,
imports, classes, functions). A :class:`ProjectIndex` loads modules lazily by file or by
dotted name, so ``from config import DB_PATH`` can be followed to ``config.py`` wherever the
program could have been started from. Nothing here imports or runs the project's code.

Memory stays bounded: the index holds only the modules used most recently (and those
something else still refers to); a module dropped from it is parsed again when needed.
"""

from __future__ import annotations

import ast
import posixpath
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

#: Statements whose bodies still run at module level (so their assignments are module names).
_BLOCKS = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)


@dataclass
class Module:
    """One parsed source file and what it binds at module level."""

    path: Path  # absolute
    rel: str  # relative to the project root, POSIX
    name: str  # dotted module name relative to the root (``app.config``)
    tree: ast.Module
    assigns: dict[str, list[tuple[int, ast.expr]]] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # local name → dotted target
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    functions: dict[str, FunctionNode] = field(default_factory=dict)
    _parents: dict[int, ast.AST] | None = field(default=None, repr=False)

    @property
    def folder(self) -> str:
        """The module's folder relative to the root (``""`` for the root itself)."""
        return posixpath.dirname(self.rel)

    @property
    def package(self) -> str:
        """The dotted package that relative imports start from."""
        if self.path.name == "__init__.py":
            return self.name
        return self.name.rpartition(".")[0]

    def ancestors(self, node: ast.AST) -> list[ast.AST]:
        """The nodes around ``node``, the module first; [] if it is not in this module.

        Found by descending through the nodes whose span holds ``node``'s (cheap: no map of
        parents is built), or through that map when spans do not say.
        """
        path = _descend(self.tree, node)
        if path is not None:
            return path
        found: list[ast.AST] = []
        above = self.parent(node)
        while above is not None:
            found.append(above)
            above = self.parent(above)
        return found[::-1]

    def parent(self, node: ast.AST) -> ast.AST | None:
        """The syntactic parent of ``node`` (None for the module); indexed on first use."""
        if self._parents is None:
            parents: dict[int, ast.AST] = {}
            for above in ast.walk(self.tree):
                for child in ast.iter_child_nodes(above):
                    parents[id(child)] = above
            self._parents = parents
        return self._parents.get(id(node))


def _descend(tree: ast.AST, node: ast.AST) -> list[ast.AST] | None:
    """The path from ``tree`` down to ``node`` (exclusive) through spans that hold it."""
    where = _span(node)
    if where is None:
        return None
    path: list[ast.AST] = []
    current = tree
    while True:
        path.append(current)
        step: ast.AST | None = None
        for child in ast.iter_child_nodes(current):
            if child is node:
                return path
            span = _span(child)
            if span is not None and span[0] <= where[0] and where[1] <= span[1]:
                step = child
                break
        if step is None:
            return None
        current = step


def _span(node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]] | None:
    try:
        start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
    except AttributeError:
        return None
    if end[0] is None or end[1] is None:
        return None
    return start, end


def dotted_name(rel: str) -> str:
    """Dotted module name of a relative ``.py`` path.

    >>> dotted_name("app/config.py"), dotted_name("app/__init__.py")
    ('app.config', 'app')
    """
    parts = rel[: -len(".py")].split("/") if rel.endswith(".py") else rel.split("/")
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def relative_to(root: Path, path: Path) -> str:
    """``path`` relative to ``root``, POSIX; the path itself when it lies outside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def build_module(path: Path, rel: str, tree: ast.Module) -> Module:
    """Index a parsed module: module-level assignments, imports, classes, functions."""
    mod = Module(path=path, rel=rel, name=dotted_name(rel), tree=tree)
    _index_block(mod, tree.body)
    return mod


def _index_block(mod: Module, body: list[ast.stmt]) -> None:
    for stmt in body:
        if isinstance(stmt, ast.ClassDef):
            mod.classes[stmt.name] = stmt
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mod.functions[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    mod.assigns.setdefault(target.id, []).append((stmt.lineno, stmt.value))
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            if isinstance(stmt.target, ast.Name):
                mod.assigns.setdefault(stmt.target.id, []).append((stmt.lineno, stmt.value))
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.asname:
                    mod.imports[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    mod.imports[top] = top
        elif isinstance(stmt, ast.ImportFrom):
            base = _absolute_module(mod, stmt.module or "", stmt.level)
            for alias in stmt.names:
                if alias.name != "*":
                    dotted = f"{base}.{alias.name}" if base else alias.name
                    mod.imports[alias.asname or alias.name] = dotted
        if isinstance(stmt, _BLOCKS):
            # Conditional and guarded definitions still bind module names
            # (``try: from tinydb import TinyDB`` / ``except ImportError: TinyDB = None``).
            _index_block(mod, stmt.body)
            _index_block(mod, getattr(stmt, "orelse", []))
            _index_block(mod, getattr(stmt, "finalbody", []))
            for handler in getattr(stmt, "handlers", []):
                _index_block(mod, handler.body)


def _absolute_module(mod: Module, name: str, level: int) -> str:
    if level == 0:
        return name
    parts = mod.package.split(".") if mod.package else []
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if len(parts) >= level - 1 else []
    if name:
        parts.append(name)
    return ".".join(parts)


def qualname(node: ast.expr, mod: Module) -> str | None:
    """The dotted name an expression refers to through the module's imports.

    ``sq.connect`` with ``import sqlite3 as sq`` gives ``sqlite3.connect``; ``connect`` with
    ``from sqlite3 import connect`` gives the same. Names that are not imported stay as
    written (``open``); anything that is not a dotted name gives None.
    """
    if isinstance(node, ast.Name):
        return mod.imports.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = qualname(node.value, mod)
        return f"{base}.{node.attr}" if base else None
    return None


def function_body_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """Every node inside ``func`` except those of nested functions, classes and lambdas."""
    stack: list[ast.AST] = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))


class ProjectIndex:
    """Lazily parsed modules of one project, found by file or by dotted name.

    The ``keep`` modules used last are held; any other stays loaded while something else
    refers to it (so a module is never loaded twice at once) and is parsed again later.
    """

    def __init__(self, root: Path, *, keep: int = 16) -> None:
        self.root = root
        self._keep = keep
        self._live: weakref.WeakValueDictionary[Path, Module] = weakref.WeakValueDictionary()
        self._recent: OrderedDict[Path, Module] = OrderedDict()
        self._unreadable: set[Path] = set()
        self._found: dict[tuple[str, str], tuple[Path, ...]] = {}  # (dotted, folder) → files

    def load(self, path: Path) -> Module | None:
        """Parse ``path`` (absolute) once; None if it cannot be read or parsed."""
        mod = self._live.get(path)
        if mod is None:
            if path in self._unreadable:
                return None
            try:
                tree = ast.parse(path.read_bytes(), filename=str(path))
            except (OSError, SyntaxError, ValueError):
                self._unreadable.add(path)
                return None
            mod = build_module(path, self.relative(path), tree)
            self._live[path] = mod
        self._recent[path] = mod
        self._recent.move_to_end(path)
        if len(self._recent) > self._keep:
            self._recent.popitem(last=False)
        return mod

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, POSIX; the path itself when it lies outside."""
        return relative_to(self.root, path)

    def find_module(self, dotted: str, importer: Module) -> Module | None:
        """The project module ``dotted`` as seen from ``importer``.

        A program may be started from the root, from the importer's folder or from any folder
        between them, so each of those is tried as an import root (root first).
        """
        if not dotted:
            return None
        key = (dotted, importer.folder)
        files = self._found.get(key)
        if files is None:
            parts = dotted.split(".")
            files = tuple(
                candidate
                for base in search_bases(importer.folder)
                for folder in [self.root / base if base else self.root]
                for candidate in (
                    folder.joinpath(*parts[:-1], parts[-1] + ".py"),
                    folder.joinpath(*parts, "__init__.py"),
                )
                if candidate.is_file()
            )
            self._found[key] = files
        for candidate in files:
            found = self.load(candidate)
            if found is not None:
                return found
        return None

    def resolve_import(self, target: str, importer: Module) -> tuple[Module, str] | None:
        """Split an imported dotted name into (project module, attribute name)."""
        head, _, attr = target.rpartition(".")
        if not head:
            return None
        mod = self.find_module(head, importer)
        return (mod, attr) if mod is not None else None


def search_bases(folder: str) -> list[str]:
    """Folders a relative name from code in ``folder`` may be relative to, in order: the
    root, the folder itself, then the folders between (programs and imports are run from
    any of them)."""
    bases = [""]
    if folder:
        bases.append(folder)
        parent = posixpath.dirname(folder)
        while parent:
            bases.append(parent)
            parent = posixpath.dirname(parent)
    return bases


def class_ref(index: ProjectIndex, name: str, mod: Module) -> tuple[Module, ast.ClassDef] | None:
    """The project class a bare name refers to in ``mod`` (defined there or imported)."""
    if name in mod.classes:
        return mod, mod.classes[name]
    target = mod.imports.get(name)
    if target:
        found = index.resolve_import(target, mod)
        if found is not None and found[1] in found[0].classes:
            return found[0], found[0].classes[found[1]]
    return None


def base_classes(
    index: ProjectIndex, mod: Module, cls: ast.ClassDef
) -> list[tuple[Module, ast.ClassDef]]:
    """The project classes among ``cls``'s bases, in declaration order."""
    found: list[tuple[Module, ast.ClassDef]] = []
    for base in cls.bases:
        ref: tuple[Module, ast.ClassDef] | None = None
        if isinstance(base, ast.Name):
            ref = class_ref(index, base.id, mod)
        elif isinstance(base, ast.Attribute):
            dotted = qualname(base.value, mod)
            owner = index.find_module(dotted, mod) if dotted else None
            if owner is not None and base.attr in owner.classes:
                ref = owner, owner.classes[base.attr]
        if ref is not None and ref[1] is not cls:
            found.append(ref)
    return found


def find_method(
    index: ProjectIndex, mod: Module, cls: ast.ClassDef, name: str, _depth: int = 0
) -> tuple[Module, ast.ClassDef, FunctionNode] | None:
    """The method ``name`` of ``cls`` or of its nearest project base class that defines it."""
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name:
            return mod, cls, stmt
    if _depth < 8:
        for base_mod, base in base_classes(index, mod, cls):
            found = find_method(index, base_mod, base, name, _depth + 1)
            if found is not None:
                return found
    return None


def first_param(func: FunctionNode | None) -> str | None:
    """The name of the first positional parameter (``self``/``cls`` for methods)."""
    if func is None:
        return None
    params = func.args.posonlyargs + func.args.args
    return params[0].arg if params else None

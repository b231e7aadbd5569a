"""Calls into project functions, found only in the files that can hold them.

Following a path parameter needs every call that passes it: the calls of one function
``(file, class, name)``. Rather than walking every module, :class:`CallSites` first narrows
the files by the identifiers they spell (:class:`~dbfold.scan.code_facts.Names`) to those
that *can* make
such a call, then parses and walks only those. What a call must spell:

* a module function ``f`` of ``m.py``: ``f`` (called by name, or as an attribute, or its
  import), and ``m`` too unless the call is in ``m.py`` itself or ``m`` is a package the
  caller sits in (``from . import f``), because every way to reach another module names it;
* a method ``f`` of class ``C``: ``f``, and the name of ``C`` or of one of its subclasses
  that inherit ``f`` (``self.f()`` in such a class, ``super().f()`` in a subclass of one,
  ``C.f(self)``), spelled as above for a class of another module;
* ``C.__init__``: the name of ``C`` or of one of those subclasses (``Sub(path)``).

Subclasses are found the same way, from the files that name ``C``. The narrowing only
drops files that cannot call the function, so the calls found are those a walk over every
module finds. Subclasses are also looked for in the modules the scan skips but imports can
reach (a ``build/`` folder), read only if they spell the base's name.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from dbfold.scan.code_calls import Site, ref_tokens, walk_calls
from dbfold.scan.code_facts import Names, searchable
from dbfold.scan.code_index import (
    Module,
    ProjectIndex,
    base_classes,
    class_ref,
    dotted_name,
    find_method,
    first_param,
    qualname,
)

__all__ = ["CallSite", "CallSites", "Key", "call_tokens"]

#: A project function: (file, class or "", function name).
Key = tuple[str, str, str]
#: A call of one: (module, site, call, whether ``self`` is implicit).
CallSite = tuple[Module, Site, ast.Call, bool]


def call_tokens(call: ast.Call, mod: Module) -> tuple[str, ...]:
    """The names a call can reach a project function by (see :meth:`CallSites.callees`)."""
    return ref_tokens(call.func, mod)


class CallSites:
    """Calls of project functions in ``files``, found on demand (see the module docstring)."""

    def __init__(self, index: ProjectIndex, files: Sequence[Path], names: Names) -> None:
        self.index = index
        self.files = files
        self.rels = [index.relative(p) for p in files]
        self.names = names
        self._index_of = {rel: i for i, rel in enumerate(self.rels)}
        self._in_folder: dict[str, set[int]] = {}
        for i, rel in enumerate(self.rels):
            for folder in rel.split("/")[:-1]:
                self._in_folder.setdefault(folder, set()).add(i)
        self._reach: dict[str, frozenset[int]] = {}
        self._sites: dict[Key, list[CallSite]] = {}
        self._subclasses: dict[Key, frozenset[tuple[str, str]]] = {}
        self._skipped: list[Path] | None = None

    # -- calls ---------------------------------------------------------------------------

    def sites(self, keys: Collection[Key]) -> dict[Key, list[CallSite]]:
        """Every call in ``files`` that may reach each function, in file and walk order."""
        missing = sorted({k for k in keys if k not in self._sites})
        if missing:
            for key in missing:
                self._sites[key] = []
            want = set(missing)
            for mod, tokens in self.modules_calling(missing):
                for node, site in walk_calls(mod):
                    if not tokens.isdisjoint(call_tokens(node, mod)):
                        for key, skip_self in self.callees(node, mod, site):
                            if key in want:
                                self._sites[key].append((mod, site, node, skip_self))
        return {k: self._sites[k] for k in keys}

    def modules_calling(self, keys: Iterable[Key]) -> Iterator[tuple[Module, set[str]]]:
        """The modules of ``files`` that may call any of ``keys``, in file order, each with
        the :func:`call_tokens` such a call has one of."""
        keys = list(keys)
        wanted: dict[int, set[str]] = {}
        for key in keys:
            tokens, files = self._candidates(key)
            for f in files:
                wanted.setdefault(f, set()).update(tokens)
        for f in sorted(wanted):
            mod = self.index.load(self.files[f])
            if mod is not None:
                yield mod, wanted[f]

    def _candidates(self, key: Key) -> tuple[set[str], set[int]]:
        """The call tokens a call of ``key`` has one of, and the files that may hold one."""
        rel, cls, func = key
        if not cls:
            return {func}, set(self._reaching(rel) & self.names.using(func))
        classes = self._inheritors(key)
        files: set[int] = set()
        for crel, name in classes:
            files |= self._reaching(crel) & self.names.spelling(name)
        tokens = {func, *(name for _, name in classes)} if func == "__init__" else {func}
        used: set[int] = set()
        for token in tokens:
            used |= self.names.using(token)
        return tokens, files & used

    def _reaching(self, rel: str) -> frozenset[int]:
        """The files that can refer to module ``rel``: itself, and those that spell each
        part of its dotted name or sit in a folder of that name (relative imports)."""
        found = self._reach.get(rel)
        if found is None:
            here = {self._index_of[rel]} if rel in self._index_of else set()
            parts = [p for p in dotted_name(rel).split(".") if p]
            others: set[int] | None = set() if not parts else None
            for part in parts:
                can = self.names.spelling(part) | self._in_folder.get(part, frozenset())
                others = set(can) if others is None else others & can
            found = frozenset(here | (others or set()))
            self._reach[rel] = found
        return found

    def _inheritors(self, key: Key) -> frozenset[tuple[str, str]]:
        """Class ``key[1]`` and the project classes that inherit its method ``key[2]``
        (subclasses that do not define it themselves), as (file, name)."""
        rel, cls, func = key
        cached = self._subclasses.get(key)
        if cached is not None:
            return cached
        found = {(rel, cls)}
        frontier = [(rel, cls)]
        while frontier:
            files: set[int] = set()
            for crel, name in frontier:  # a subclass names its base in its bases
                files |= self._reaching(crel) & self.names.using(name)
            words = [name.encode("utf-8", "replace") for _, name in frontier]
            frontier = []
            paths = [self.files[f] for f in sorted(files)]
            paths += [p for p in self._outside() if _spells_any(p, words)]
            for path in paths:
                mod = self.index.load(path)
                if mod is None:
                    continue
                for sub in mod.classes.values():
                    if (mod.rel, sub.name) in found or _defines(sub, func):
                        continue
                    if any((m.rel, b.name) in found for m, b in base_classes(self.index, mod, sub)):
                        found.add((mod.rel, sub.name))
                        frontier.append((mod.rel, sub.name))
        self._subclasses[key] = frozenset(found)
        return self._subclasses[key]

    def _outside(self) -> list[Path]:
        """Python files under the root that the scan does not read but imports can reach
        (a ``build/`` or ``env/`` folder): a subclass there may sit between two others."""
        if self._skipped is None:
            scanned = set(self.files)
            self._skipped = []
            for folder, dirs, names in os.walk(self.index.root):
                # Only identifiers can be imported (a virtualenv's lib/python3.11 cannot);
                # nothing imports node_modules.
                dirs[:] = sorted(d for d in dirs if d.isidentifier() and d != "node_modules")
                for name in sorted(names):
                    path = Path(folder, name)
                    if name.endswith(".py") and name[:-3].isidentifier() and path not in scanned:
                        self._skipped.append(path)
        return self._skipped

    # -- what one call reaches -----------------------------------------------------------

    def callees(self, call: ast.Call, mod: Module, site: Site) -> list[tuple[Key, bool]]:
        """The project functions a call may reach, and whether ``self`` is implicit."""
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in mod.functions:
                return [((mod.rel, "", func.id), False)]
            ref = class_ref(self.index, func.id, mod)
            if ref is not None:
                return self._method_key(ref[0], ref[1], "__init__", True)
            target = mod.imports.get(func.id)
            found = self.index.resolve_import(target, mod) if target else None
            if found is not None and found[1] in found[0].functions:
                return [((found[0].rel, "", found[1]), False)]
            return []
        if not isinstance(func, ast.Attribute):
            return []
        owner = func.value
        if (
            isinstance(owner, ast.Call)
            and isinstance(owner.func, ast.Name)
            and owner.func.id == "super"
            and site.cls is not None
        ):
            keys: list[tuple[Key, bool]] = []
            for base_mod, base in base_classes(self.index, mod, site.cls):
                keys.extend(self._method_key(base_mod, base, func.attr, True))
            return keys[:1]
        if isinstance(owner, ast.Name):
            if site.cls is not None and owner.id == first_param(site.method):
                return self._method_key(mod, site.cls, func.attr, True)
            ref = class_ref(self.index, owner.id, mod)
            if ref is not None:  # ``Base.__init__(self, path)``: self is passed explicitly
                return self._method_key(ref[0], ref[1], func.attr, False)
        dotted = qualname(owner, mod) if isinstance(owner, (ast.Name, ast.Attribute)) else None
        target_mod = self.index.find_module(dotted, mod) if dotted else None
        if target_mod is not None and func.attr in target_mod.functions:
            return [((target_mod.rel, "", func.attr), False)]
        return []

    def _method_key(
        self, mod: Module, cls: ast.ClassDef, name: str, skip_self: bool
    ) -> list[tuple[Key, bool]]:
        found = find_method(self.index, mod, cls, name)
        if found is None:
            return []
        return [((found[0].rel, found[1].name, found[2].name), skip_self)]


def _spells_any(path: Path, words: list[bytes]) -> bool:
    try:
        text = searchable(path.read_bytes())
    except OSError:
        return False
    return any(w in text for w in words)


def _defines(cls: ast.ClassDef, name: str) -> bool:
    return any(
        isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == name
        for stmt in cls.body
    )

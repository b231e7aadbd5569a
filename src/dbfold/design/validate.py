"""Structural validation of plan.json against the Plan dataclasses, with JSON paths.

Driven by the dataclasses' type hints, so the check follows the model without a second
schema to keep in step: missing required keys and values of the wrong type are reported at
their JSON path (``$.tables[3].columns[2].name``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from dbfold.errors import DesignError

_SCALARS: dict[type, tuple[type, ...]] = {str: (str,), int: (int,), float: (int, float)}


def _fail(path: str, message: str) -> DesignError:
    return DesignError(f"{path}: {message}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def check_value(hint: Any, value: Any, path: str) -> None:
    """Raise DesignError (naming ``path``) unless ``value`` fits the type hint ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        (inner,) = [a for a in args if a is not type(None)]
        check_value(inner, value, path)
        return
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(path, f"expected a list, found {_kind(value)}")
        for i, item in enumerate(value):
            check_value(args[0], item, f"{path}[{i}]")
        return
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object, found {_kind(value)}")
        for k, v in value.items():
            check_value(args[1] if len(args) == 2 else Any, v, f"{path}.{k}")
        return
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        check_object(hint, value, path)
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise _fail(path, f"expected true or false, found {_kind(value)}")
        return
    if hint in _SCALARS and (not isinstance(value, _SCALARS[hint]) or isinstance(value, bool)):
        raise _fail(path, f"expected {hint.__name__}, found {_kind(value)}")


def check_object(cls: type, value: Any, path: str) -> None:
    """Check a JSON object against a dataclass: required keys present, every value typed."""
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, found {_kind(value)}")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in value:
            if required:
                raise _fail(path, f"missing key {f.name!r}")
            continue
        check_value(hints[f.name], value[f.name], f"{path}.{f.name}")

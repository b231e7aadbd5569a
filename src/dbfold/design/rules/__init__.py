"""The design rules, in the order they run. Each is ``(State, DesignOptions) -> State``."""

from __future__ import annotations

from collections.abc import Callable

from dbfold.design.options import DesignOptions
from dbfold.design.rules.assemble import assemble_tables
from dbfold.design.rules.column_types import type_columns
from dbfold.design.rules.homes import find_homes
from dbfold.design.rules.indexes import index_foreign_keys
from dbfold.design.rules.keys import carry_keys
from dbfold.design.rules.merges import merge_tables
from dbfold.design.rules.names import name_tables
from dbfold.design.rules.recall import recall_edits
from dbfold.design.rules.shape import shape_records
from dbfold.design.rules.suggest import suggest_keys
from dbfold.design.rules.views import carry_views
from dbfold.design.state import State

Rule = Callable[[State, DesignOptions], State]

#: Order matters: merges compare typed shapes, names see merged homes, keys see final names.
RULES: tuple[Rule, ...] = (
    recall_edits,
    find_homes,
    shape_records,
    type_columns,
    merge_tables,
    name_tables,
    assemble_tables,
    carry_keys,
    suggest_keys,
    index_foreign_keys,
    carry_views,
)

__all__ = ["RULES", "Rule"]

"""Ready patterns on the unified database: events, tenants and time series.

Each is a :class:`~dbfold.runtime.UnifiedDatabase` subclass; a user subclasses it and adds
their own ``get_schema()``. The modules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "EventDatabase": "events",
    "NewEvent": "events",
    "RecordedEvent": "events",
    "AppendResult": "events",
    "TrackedEvent": "events",
    "ANY": "events",
    "NO_STREAM": "events",
    "STREAM_EXISTS": "events",
    "TenantDatabase": "tenants",
    "TenantScope": "tenants",
    "TenantScopeError": "tenants",
    "TimeSeriesDatabase": "timeseries",
    "TimeSeriesError": "timeseries",
    "Point": "timeseries",
    "Bucket": "timeseries",
    "RetentionReport": "timeseries",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'dbfold.patterns' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dbfold.patterns.{module}"), name)

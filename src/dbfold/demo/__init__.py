"""A realistic messy sample project: stores, traps and the legacy code that uses them.

>>> from dbfold.demo import build_sample_project  # doctest: +SKIP
>>> project = build_sample_project(Path("demo-project"), scale=0.01)  # doctest: +SKIP
"""

from __future__ import annotations

from dbfold.demo.build import BYTES_PER_SCALE, INTERFACES, build_sample_project
from dbfold.demo.project import SampleProject, SampleStore, SampleTable

__all__ = [
    "BYTES_PER_SCALE",
    "INTERFACES",
    "SampleProject",
    "SampleStore",
    "SampleTable",
    "build_sample_project",
]

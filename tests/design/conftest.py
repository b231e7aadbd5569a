"""Fixtures of the design tests: the sample project, built once and only ever read."""

from __future__ import annotations

import pytest
from design_sample import Sample

from dbfold.demo import build_sample_project
from dbfold.scan import analyze


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    root = tmp_path_factory.mktemp("sample_project")
    build_sample_project(root, scale=0.01, seed=7)
    return Sample(root=root, analysis=analyze(root))

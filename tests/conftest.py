"""Project-wide test settings.

Under CI (the ``CI`` environment variable is set, as ``.ci/run`` has it) Hypothesis runs
derandomized and keeps no example database, so a submission's run is reproducible; locally
it explores new examples each run and replays past failures from ``.hypothesis/``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

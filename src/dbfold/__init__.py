"""dbfold: fold a project's scattered data stores into one unified database."""

from __future__ import annotations

from dbfold.errors import DbfoldError

__version__ = "0.1.0"

__all__ = ["DbfoldError", "__version__"]

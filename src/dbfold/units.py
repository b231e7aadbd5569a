"""Sizes as people read them; shared by the terminal views and the design report."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """Format a byte count the way people read it.

    >>> human_bytes(0), human_bytes(2048), human_bytes(5 * 1024**3)
    ('0 B', '2.0 KB', '5.0 GB')
    """
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")

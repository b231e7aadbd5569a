"""A CSV file that ends inside a quoted cell is reported, not read silently as one row."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbfold.scan.stores import scan_stores


@pytest.mark.parametrize(
    ("text", "unclosed"),
    [
        ('id,name\n1,"x\n2,y\n', True),
        ('id,name\n1,"x\n2,y', True),
        ('id,name\n1,"x\ny"\n', False),  # a line break inside a closed quote is fine
        ("id,name\n1,x\n2,y\n", False),
    ],
)
def test_unclosed_quote_at_the_end(tmp_path: Path, text: str, unclosed: bool) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "a.csv").write_text(text, encoding="utf-8")
    (store,) = scan_stores(root).stores
    said = [p for p in store.problems if "never closed" in p.message]
    assert len(said) == (1 if unclosed else 0), store.problems
    if unclosed:
        assert said[0].severity == "error" and "\n" not in said[0].message

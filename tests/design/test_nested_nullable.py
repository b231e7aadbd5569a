"""Fields under an object that some records lack must be nullable in the plan."""

from __future__ import annotations

from dbfold.design import design
from dbfold.model import Analysis, Column, Store, Table


def test_fields_of_an_optional_object_are_nullable() -> None:
    seo = Column(
        name="seo",
        type="object",
        nullable=True,  # absent from some records
        present=6,
        observed={"object": 6},
        fields=(Column(name="score", type="real", nullable=False, present=6),),
    )
    author = Column(
        name="author",
        type="object",
        nullable=False,
        present=20,
        observed={"object": 20},
        fields=(Column(name="name", type="text", nullable=False, present=20),),
    )
    title = Column(name="title", type="text", nullable=False, present=20)
    table = Table(name="articles", rows=20, columns=(title, seo, author), layout="records")
    analysis = Analysis(
        root="/p", stores=(Store(path="articles.json", kind="json", bytes=1, tables=(table,)),)
    )
    plan = design(analysis)
    columns = {c.name: c for c in plan.tables[0].columns}
    assert columns["seo__score"].nullable
    assert not columns["author__name"].nullable
    assert not columns["title"].nullable

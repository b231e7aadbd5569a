"""Nullability: record sets declare no schema, so only their keys are NOT NULL; SQLite
tables keep their declared NOT NULL."""

from __future__ import annotations

from dbfold.design import design
from dbfold.model import Analysis, Column, Store, Table


def test_record_set_fields_are_nullable_sqlite_declarations_kept() -> None:
    seo = Column(
        name="seo",
        type="object",
        nullable=True,  # absent from some records
        present=6,
        observed={"object": 6},
        fields=(Column(name="score", type="real", nullable=False, present=6),),
    )
    title = Column(name="title", type="text", nullable=False, present=20)
    records = Table(name="articles", rows=20, columns=(title, seo), layout="records")
    users = Table(
        name="users",
        rows=3,
        columns=(
            Column(name="id", type="INTEGER", nullable=False, primary_key=True),
            Column(name="email", type="TEXT", nullable=False),
            Column(name="nick", type="TEXT", nullable=True),
        ),
        primary_key=("id",),
    )
    analysis = Analysis(
        root="/p",
        stores=(
            Store(path="articles.json", kind="json", bytes=1, tables=(records,)),
            Store(path="app.db", kind="sqlite", bytes=1, tables=(users,)),
        ),
    )
    plan = design(analysis)
    articles = {c.name: c for c in plan.table("articles").columns}  # type: ignore[union-attr]
    assert articles["seo__score"].nullable
    assert articles["title"].nullable  # present in every record today, not a promise
    declared = {c.name: c for c in plan.table("users").columns}  # type: ignore[union-attr]
    assert not declared["email"].nullable
    assert declared["nick"].nullable
    assert not declared["id"].nullable

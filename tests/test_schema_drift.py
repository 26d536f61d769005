"""schema.graphql is generated from the code and checked in: it must not drift."""

from pathlib import Path

from graph.schema import schema


def test_checked_in_schema_matches_the_code() -> None:
    checked_in = (Path(__file__).parent.parent / "schema.graphql").read_text()
    assert checked_in == schema.as_str() + "\n", "run `make schema` and commit schema.graphql"


def test_printing_the_schema_object_gives_the_checked_in_sdl() -> None:
    """`str(schema)`, as tools print a Strawberry schema, is the file too (the federation
    directives' definitions included), not Strawberry's print without them."""
    checked_in = (Path(__file__).parent.parent / "schema.graphql").read_text()
    assert str(schema) + "\n" == checked_in

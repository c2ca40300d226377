"""Object sources, output key templates and item inputs."""

from typing import Any

import pytest

from taskmill.api.files import ItemInput
from taskmill.files.keys import (
    ObjectRef,
    SourceError,
    item_path,
    item_source,
    output_values,
    parse_source,
    render_key,
)


@pytest.mark.parametrize(
    ("source", "ref"),
    [
        ("data/a.bin", ObjectRef(None, "data/a.bin")),
        ("data/", ObjectRef(None, "data/")),
        ("s3://other-bucket/x/y", ObjectRef("other-bucket", "x/y")),
    ],
)
def test_parse_source(source: str, ref: ObjectRef) -> None:
    assert parse_source(source) == ref
    assert str(ref) == source


@pytest.mark.parametrize("source", ["", "/abs", "gs://b/k", "s3://B/k", "s3://bucket/", "s3://b"])
def test_parse_source_refuses(source: str) -> None:
    with pytest.raises(SourceError):
        parse_source(source)


def test_render_key_fills_every_placeholder() -> None:
    values = output_values("ns", "job", "job-3", 3, 2, "out/a.png")
    assert render_key("{namespace}/{job}/{index}/{attempt}/{path}", values) == (
        "ns/job/3/2/out/a.png"
    )
    assert render_key("{task}/{name}", values) == "job-3/a.png"


def test_render_key_refuses_an_unknown_placeholder() -> None:
    with pytest.raises(SourceError, match="unknown"):
        render_key("{job}/{secret}", output_values("ns", "j", "j-0", 0, 1, "a"))


@pytest.mark.parametrize(
    ("item", "field", "source"),
    [
        ("images/a.png", None, "images/a.png"),
        ({"image": "s3://b-1/a.png", "size": 3}, "image", "s3://b-1/a.png"),
    ],
)
def test_item_source(item: Any, field: str | None, source: str) -> None:
    assert item_source(item, ItemInput(field=field)) == source


@pytest.mark.parametrize(
    ("item", "field"),
    [({"image": "a"}, None), ({"other": "a"}, "image"), ({"image": 3}, "image"), (7, None)],
)
def test_item_source_refuses_an_item_naming_no_object(item: Any, field: str | None) -> None:
    with pytest.raises(SourceError):
        item_source(item, ItemInput(field=field))


def test_item_path_uses_the_base_name_and_position() -> None:
    spec = ItemInput(path="in/{position}-{name}")
    assert item_path(spec, "s3://bkt/x/photo.jpg", 2) == "in/2-photo.jpg"

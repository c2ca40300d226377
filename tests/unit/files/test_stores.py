"""The provider's stores file."""

from pathlib import Path
from typing import Any

import pytest

from taskmill.files.stores import StoreConfigError, parse_stores


def test_a_single_store_is_the_default_and_credentials_are_relative_to_the_file(
    tmp_path: Path,
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "accessKeyId").write_text("AK\n")
    (creds / "secretAccessKey").write_text("SK\n")
    stores = parse_stores(
        {"stores": {"main": {"endpoint": "http://s3/", "bucket": "b", "credentials": "creds"}}},
        base=tmp_path,
    )
    main = stores.get("")
    assert (main.name, main.endpoint, main.region) == ("main", "http://s3", "us-east-1")
    got = main.read_credentials(env={})
    assert (got.access_key_id, got.secret_access_key) == ("AK", "SK")
    assert "SK" not in repr(got)


def test_credentials_fall_back_to_the_environment() -> None:
    stores = parse_stores({"stores": {"a": {"endpoint": "http://s3", "bucket": "b"}}})
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    assert stores.get("a").read_credentials(env).access_key_id == "k"
    with pytest.raises(StoreConfigError, match="AWS_ACCESS_KEY_ID"):
        stores.get("a").read_credentials({})


def test_an_unknown_store_names_the_known_ones() -> None:
    stores = parse_stores(
        {
            "default": "a",
            "stores": {
                "a": {"endpoint": "http://s3", "bucket": "b"},
                "c": {"endpoint": "http://s3", "bucket": "d"},
            },
        }
    )
    assert stores.get("").name == "a"
    with pytest.raises(StoreConfigError, match=r"'x' is not configured.*known: a, c"):
        stores.get("x")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "mapping"),
        ({"stores": {"a": {"bucket": "b"}}}, "needs endpoint"),
        ({"stores": {"a": {"endpoint": "e", "bucket": "b", "secret": "x"}}}, "unknown fields"),
        ({"default": "z", "stores": {"a": {"endpoint": "e", "bucket": "b"}}}, "default store"),
    ],
)
def test_malformed_stores_files_are_refused(body: Any, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        parse_stores(body)

"""`blob_accel_redirect`: the URL path prefix of a front nginx's internal blob location."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cargohold.config import Settings


def test_blob_accel_redirect_is_off_by_default() -> None:
    assert Settings().blob_accel_redirect is None


@pytest.mark.parametrize("prefix", ["/_cargohold_blobs/", "/", "/internal/blobs/", "/a.b/"])
def test_a_path_that_starts_and_ends_with_a_slash_is_accepted(prefix: str) -> None:
    assert Settings(blob_accel_redirect=prefix).blob_accel_redirect == prefix


def test_the_prefix_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_BLOB_ACCEL_REDIRECT", "/_cargohold_blobs/")

    assert Settings().blob_accel_redirect == "/_cargohold_blobs/"


def test_an_empty_prefix_is_off() -> None:
    assert Settings(blob_accel_redirect="").blob_accel_redirect is None


@pytest.mark.parametrize(
    "prefix",
    [
        "_cargohold_blobs/",  # not a path
        "/_cargohold_blobs",  # the file's path would run into the prefix
        "http://nginx/_blobs/",
        "/_blobs/../etc/",
        "/../",
        "/./blobs/",
        "/_blobs//x/",
        "/_blobs/?x=1/",
        "/_blobs/#x/",
        "/_blobs%2F/",
        "/_blobs\\x/",
        "/_blobs x/",
        "/_blobs\nx/",
    ],
)
def test_a_prefix_that_is_no_plain_path_ending_in_a_slash_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="blob_accel_redirect"):
        Settings(blob_accel_redirect=prefix)

"""The pure rules of mirrors: where their packages appear, the upstream's names for them,
and which upstream URLs a mirror may have."""

from __future__ import annotations

import pytest

from cargohold.config import Settings
from cargohold.services.errors import Invalid
from cargohold.services.registry.mirrors import (
    Mirror,
    check_prefix,
    check_upstream,
    split_name,
    upstream_name,
)

HUB = Mirror(
    id=1,
    workspace="acme",
    prefix="hub",
    upstream="https://registry-1.docker.io",
    username=None,
    has_password=False,
    repository_id=1,
    repository="acme/hub",
    tag_ttl=300,
    created_at=0.0,
    created_by=None,
    updated_at=0.0,
)


def test_one_segment_names_get_library_upstream() -> None:
    assert upstream_name(HUB, "acme/hub/busybox") == "library/busybox"


def test_longer_names_keep_their_path_upstream() -> None:
    assert upstream_name(HUB, "acme/hub/bitnami/redis") == "bitnami/redis"


def test_a_mirror_package_name_has_workspace_prefix_and_rest() -> None:
    assert split_name("acme/hub/a/b") == ("acme", "hub", "a/b")
    assert split_name("acme/hub") is None
    assert split_name("acme/hub/") is None


@pytest.mark.parametrize("prefix", ["hub", "ghcr.io", "quay_io", "a-b"])
def test_a_prefix_is_one_name_component(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["Hub", "a/b", "", ".x", "x" * 65])
def test_other_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(Invalid):
        check_prefix(prefix)


def test_an_upstream_loses_its_trailing_slash() -> None:
    assert check_upstream("https://ghcr.io/", Settings()) == "https://ghcr.io"


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]"])
def test_plain_http_goes_to_loopback(url: str) -> None:
    assert check_upstream(url, Settings()) == url


def test_plain_http_elsewhere_needs_mirror_allow_http() -> None:
    with pytest.raises(Invalid, match="loopback"):
        check_upstream("http://registry.internal", Settings())
    allowed = Settings(mirror_allow_http=True)
    assert check_upstream("http://registry.internal", allowed) == "http://registry.internal"


@pytest.mark.parametrize(
    "url", ["https://r.example/v2", "https://u:p@r.example", "https://r.example?a=1", "ftp://x"]
)
def test_an_upstream_is_a_base_url_only(url: str) -> None:
    with pytest.raises(Invalid):
        check_upstream(url, Settings())

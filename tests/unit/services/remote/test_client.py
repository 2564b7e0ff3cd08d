"""The pure parts of the remote registry client: challenges, scopes, secrets kept out of
sight. Its requests are tested against real registries in tests/functional/mirrors."""

from __future__ import annotations

import base64

from cargohold.services.outbound import Policy
from cargohold.services.remote.client import (
    Credentials,
    Remote,
    parse_challenge,
    repository_of,
)


def test_a_bearer_challenge_gives_realm_service_and_scope() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }


def test_a_basic_challenge_is_recognised_whatever_its_case() -> None:
    challenge = parse_challenge('BASIC realm="Registry Realm"')
    assert challenge is not None
    assert challenge.scheme == "basic"
    assert challenge.params["realm"] == "Registry Realm"


def test_an_empty_challenge_is_none() -> None:
    assert parse_challenge("") is None


def test_the_repository_of_a_path_is_what_lies_before_its_resource() -> None:
    assert repository_of("/v2/library/busybox/manifests/latest") == "library/busybox"
    assert repository_of("/v2/a/b/c/blobs/sha256:00") == "a/b/c"
    assert repository_of("/v2/x/tags/list") == "x"
    assert repository_of("/v2/") is None


def test_the_scope_of_a_request_names_its_repository_and_actions() -> None:
    remote = Remote("https://r.example", credentials=None, policy=Policy())
    assert remote.scope("/v2/a/b/manifests/1", "pull") == "repository:a/b:pull"
    assert remote.scope("/v2/a/blobs/uploads/", "pull,push") == "repository:a:pull,push"


def test_credentials_never_show_their_password() -> None:
    credentials = Credentials("ci", "s3cret-value")
    assert "s3cret-value" not in repr(credentials)
    assert credentials.basic() == "Basic " + base64.b64encode(b"ci:s3cret-value").decode()


def test_the_base_url_is_shown_without_user_information() -> None:
    remote = Remote("https://user:pw@r.example/", credentials=None, policy=Policy())
    assert "pw" not in remote.host
    assert remote.base == "https://user:pw@r.example"

"""A mirror of a registry that speaks the Docker token flow: a live Cargohold with token auth
on 127.0.0.1 (tests/remote_registries.py). The mirror answers its Bearer challenge with a
token from its realm, asked for with the mirror's credentials."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.api.people import Api
from tests.functional.mirrors.conftest import make_mirror, pull, push_upstream
from tests.functional.registry import image_manifest, random_blob
from tests.remote_registries import TokenCargohold, token_cargohold


@pytest.fixture
def token_upstream(tmp_path: Path) -> Iterator[TokenCargohold]:
    with token_cargohold(tmp_path / "upstream", "up", ["up/tools/app"]) as server:
        yield server


async def test_an_upstream_speaking_the_token_flow_is_pulled_with_its_token(
    api: Api, token_upstream: TokenCargohold
) -> None:
    layer = random_blob(5000)
    image = image_manifest([layer])
    await push_upstream(token_upstream, "up/tools/app", "1", image)
    await make_mirror(api, token_upstream.url, token_upstream)
    manifest = await pull(api, "/v2/acme/hub/up/tools/app/manifests/1")
    assert manifest.status_code == 200, manifest.text
    assert manifest.content == image.manifest
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    blob = await pull(api, f"/v2/acme/hub/up/tools/app/blobs/{digest}")
    assert blob.status_code == 200 and blob.content == layer


async def test_credentials_the_token_service_refuses_give_503_naming_them(
    api: Api, token_upstream: TokenCargohold
) -> None:
    await push_upstream(token_upstream, "up/tools/app", "1", image_manifest([random_blob(9)]))
    body = {"prefix": "hub", "upstream": token_upstream.url, "username": token_upstream.username,
            "password": "not-the-password"}  # fmt: skip
    assert (await api.post("/workspaces/acme/mirrors", "owner", json=body)).status_code == 201
    answer = await pull(api, "/v2/acme/hub/up/tools/app/manifests/1")
    assert answer.status_code == 503
    assert "refused the credentials" in answer.json()["errors"][0]["message"]

"""CARGOHOLD_DOCKER_MIRROR: the names a Docker engine asks a registry mirror for
(`/v2/library/NAME/...`, `/v2/NAME/...`) are answered by that workspace mirror; names of the
registry's own workspaces are not."""

from __future__ import annotations

import pytest

from tests.functional.api.people import Api
from tests.functional.mirrors.conftest import Proxy, make_mirror, pull, push_upstream
from tests.functional.registry import image_manifest, random_blob
from tests.remote_registries import Distribution

pytestmark = pytest.mark.settings(docker_mirror="acme/hub")


@pytest.mark.parametrize("asked", ["library/busybox", "busybox"])
async def test_the_docker_engine_names_are_answered_by_the_mirror(
    api: Api, upstream: Distribution, proxy: Proxy, asked: str
) -> None:
    image = image_manifest([random_blob(64)])
    await push_upstream(upstream, "library/busybox", "latest", image)
    await make_mirror(api, proxy.url, upstream)
    response = await pull(api, f"/v2/{asked}/manifests/latest")
    assert response.status_code == 200, response.text
    assert response.content == image.manifest
    assert await api.rows("SELECT name FROM packages WHERE name = 'acme/hub/busybox'")


async def test_an_organisation_image_keeps_its_path_upstream(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    image = image_manifest([random_blob(64)])
    await push_upstream(upstream, "bitnami/redis", "7", image)
    await make_mirror(api, proxy.url, upstream)
    response = await pull(api, "/v2/bitnami/redis/manifests/7")
    assert response.content == image.manifest
    assert proxy.count("GET", "/v2/bitnami/redis/manifests/7") == 1


async def test_a_package_of_a_workspace_is_not_sent_to_the_mirror(
    api: Api, upstream: Distribution, proxy: Proxy
) -> None:
    await make_mirror(api, proxy.url, upstream)
    digest = await api.push("acme/web/api", "1")
    response = await pull(api, "/v2/acme/web/api/manifests/1")
    assert response.headers["docker-content-digest"] == digest
    assert proxy.requests == []

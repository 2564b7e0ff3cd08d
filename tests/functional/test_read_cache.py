"""Manifest reads are kept in each process only while the database is unchanged: what
another process (another worker, another node, the CLI) changes is read at once."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from cargohold.config import Settings
from cargohold.web.app import create_app
from tests import backends
from tests.functional.registry import Registry, fail_on_server_error, image_manifest, random_blob

ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


@pytest.fixture
async def other(settings: Settings) -> AsyncIterator[Registry]:
    """A second process on the same database and store: an app with its own context."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://registry.test",
        event_hooks={"response": [fail_on_server_error]},
    ) as client:
        yield Registry(client, app.state.context, app)
    await app.state.context.close()


async def _pulled(registry: Registry, path: str) -> httpx.Response:
    for _ in range(3):  # the first answer fills the read cache; the others come from it
        response = await registry.client.get(path, headers=ACCEPT)
    return response


async def test_a_tag_moved_by_another_process_is_read_at_once(
    registry: Registry, other: Registry
) -> None:
    first, second = image_manifest([random_blob()]), image_manifest([random_blob(), random_blob()])
    await registry.push_image("acme/web", "v1", first)
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).content == first.manifest
    await other.push_image("acme/web", "v1", second)
    moved = await _pulled(registry, "/v2/acme/web/manifests/v1")
    assert moved.headers["docker-content-digest"] == second.digest
    assert moved.content == second.manifest


async def test_a_manifest_deleted_by_another_process_is_gone_at_once(
    registry: Registry, other: Registry
) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image("acme/web", "v1", image)
    by_digest = f"/v2/acme/web/manifests/{image.digest}"
    assert (await _pulled(registry, by_digest)).status_code == 200
    deleted = await other.client.delete(by_digest)
    assert deleted.status_code == 202, deleted.text
    assert (await _pulled(registry, by_digest)).status_code == 404
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).status_code == 404


async def test_a_tag_moved_in_this_process_is_read_at_once(registry: Registry) -> None:
    first, second = image_manifest([random_blob()]), image_manifest([random_blob(), random_blob()])
    await registry.push_image("acme/web", "v1", first)
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).content == first.manifest
    await registry.push_image("acme/web", "v1", second)
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).content == second.manifest


def cargohold(settings: Settings, *args: str, **env: str) -> None:
    """`cargohold ARGS` in another process, on the same data directory, as an operator runs it
    beside the serving registry."""
    result = subprocess.run(
        [sys.executable, "-m", "cargohold", *args, "--data-dir", str(settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env},
    )
    assert result.returncode == 0, result.stdout + result.stderr


sqlite_only = pytest.mark.skipif(
    backends.test_backend() == "postgres-s3", reason="the CLI is given the data directory only"
)


@sqlite_only
async def test_a_manifest_collected_by_cargohold_gc_is_gone_at_once(
    registry: Registry, settings: Settings
) -> None:
    first, second = image_manifest([random_blob()]), image_manifest([random_blob()])
    await registry.push_image("acme/web", "v1", first)
    await registry.push_image("acme/web", "v1", second)  # the first is untagged now
    with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as conn, conn:
        conn.execute("UPDATE manifests SET created_at = created_at - 60")  # out of any grace
    by_digest = f"/v2/acme/web/manifests/{first.digest}"
    assert (await _pulled(registry, by_digest)).status_code == 200
    cargohold(settings, "gc", "--grace", "0", "--quiet", CARGOHOLD_GC_DELETE_UNTAGGED="true")
    assert (await _pulled(registry, by_digest)).status_code == 404
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).content == second.manifest


@sqlite_only
async def test_a_package_deleted_by_the_cli_is_gone_at_once(
    registry: Registry, settings: Settings
) -> None:
    image = image_manifest([random_blob()])
    await registry.push_image("acme/web", "v1", image)
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).status_code == 200
    cargohold(settings, "package", "delete", "acme/web", "--yes")
    assert (await _pulled(registry, "/v2/acme/web/manifests/v1")).status_code == 404

"""Packages are created before the first push, or, where a workspace allows it, by the first
push of an admin of the repository whose slug the package is named after."""

from __future__ import annotations

import httpx
import pytest

from cargohold.authz.roles import Role
from cargohold.services.accounts import directory
from cargohold.services.registry import packages
from tests.functional.auth.world import World, bearer, email
from tests.functional.registry import Registry, digest_of, error_code, image_manifest, random_blob

NEW = "acme/api"  # the repository acme/api exists (project PLAT); the package does not


@pytest.fixture
async def api_repository(registry: Registry) -> directory.Repository:
    db = registry.context.db
    repository = await directory.create_repository(
        db, full_name=NEW, project_key="PLAT", now=registry.context.now()
    )
    admin = await directory.find_user(db, email("admin"))
    await directory.grant_repository(db, repository=repository, user=admin, role=Role.ADMIN)
    return repository


async def _enable(registry: Registry, workspace: str = "acme") -> None:
    workspace_id = await directory.find_workspace(registry.context.db, workspace)
    await directory.set_create_on_push(registry.context.db, workspace_id=workspace_id, enabled=True)


async def _push(registry: Registry, headers: dict[str, str], name: str) -> httpx.Response:
    """Push a one-layer image as docker does: blobs first, then the manifest. Returns the
    first refusal, or the manifest PUT's answer."""
    image = image_manifest([random_blob(256)])
    for blob in image.blobs:
        response = await registry.client.post(
            f"/v2/{name}/blobs/uploads/",
            params={"digest": digest_of(blob)},
            content=blob,
            headers=headers,
        )
        if response.status_code != 201:
            return response
    return await registry.client.put(
        f"/v2/{name}/manifests/v1",
        content=image.manifest,
        headers={**headers, "Content-Type": image.media_type},
    )


async def _jwt(registry: Registry, world: World, who: str, scope: str, name: str) -> dict[str, str]:
    return await bearer(
        registry.client, world.credential(who, scope), [f"repository:{name}:pull,push"]
    )


async def _exists(registry: Registry, name: str) -> bool:
    row = await registry.context.db.fetchone("SELECT 1 FROM packages WHERE name = :n", {"n": name})
    return row is not None


def _refused_as_unknown(response: httpx.Response, name: str) -> None:
    assert response.status_code == 404, response.text
    assert error_code(response) == "NAME_UNKNOWN"
    message = response.json()["errors"][0]["message"]
    assert f"cargohold package create {name} --repo" in message, message


@pytest.mark.usefixtures("api_repository")
async def test_off_by_default(registry: Registry, world: World) -> None:
    _refused_as_unknown(
        await _push(registry, await _jwt(registry, world, "admin", "admin", NEW), NEW), NEW
    )
    _refused_as_unknown(await _push(registry, world.credential("admin").basic, NEW), NEW)
    assert not await _exists(registry, NEW)


@pytest.mark.parametrize("via", ["jwt", "basic"])
@pytest.mark.parametrize("who", ["admin", "owner", "site_admin"])
async def test_an_admin_of_the_repository_creates_it(
    registry: Registry, world: World, api_repository: directory.Repository, who: str, via: str
) -> None:
    await _enable(registry)
    if via == "jwt":
        headers = await _jwt(registry, world, who, "admin", NEW)
    else:
        headers = world.credential(who).basic
    response = await _push(registry, headers, NEW)
    assert response.status_code == 201, response.text

    # the package is linked to the repository and inherits its roles
    await directory.grant_repository(
        registry.context.db,
        repository=api_repository,
        user=await directory.find_user(registry.context.db, email("read")),
        role=Role.READ,
    )
    reader = {**world.credential("read", "read").basic, "Accept": "*/*"}
    assert (await registry.client.get(f"/v2/{NEW}/manifests/v1", headers=reader)).is_success
    outsider = {**world.credential("other").basic, "Accept": "*/*"}
    hidden = await registry.client.get(f"/v2/{NEW}/manifests/v1", headers=outsider)
    assert hidden.status_code == 404
    # write comes from project PLAT, which holds acme/api
    writer = world.credential("write", "write").basic
    assert (await _push(registry, writer, NEW)).status_code == 201


@pytest.mark.usefixtures("api_repository")
@pytest.mark.parametrize(
    ("who", "scope", "name"),
    [
        ("write", "admin", NEW),  # write on the repository is not enough
        ("admin", "write", NEW),  # an admin whose token is narrowed to write:package
        ("read", "admin", NEW),
        ("none", "admin", NEW),
        ("other", "admin", NEW),
        ("robot_ws", "admin", NEW),  # robots never create packages
        ("admin", "admin", "acme/api/tools"),  # not the name of a repository
        ("admin", "admin", "acme/api-tools"),
        ("admin", "admin", "globex/api"),  # another workspace
    ],
    ids=[
        "write",
        "admin-with-write-token",
        "read",
        "member",
        "other-workspace-owner",
        "workspace-robot",
        "nested-name",
        "other-name",
        "other-workspace",
    ],
)
@pytest.mark.parametrize("via", ["jwt", "basic"])
async def test_nobody_else_creates_it(
    registry: Registry, world: World, who: str, scope: str, name: str, via: str
) -> None:
    await _enable(registry)
    if via == "jwt":
        headers = await _jwt(registry, world, who, scope, name)
    else:
        headers = world.credential(who, scope).basic
    _refused_as_unknown(await _push(registry, headers, name), name)
    assert not await _exists(registry, name)


@pytest.mark.usefixtures("api_repository")
async def test_the_setting_belongs_to_one_workspace(registry: Registry, world: World) -> None:
    await _enable(registry, "globex")
    headers = await _jwt(registry, world, "admin", "admin", NEW)
    _refused_as_unknown(await _push(registry, headers, NEW), NEW)


@pytest.mark.usefixtures("api_repository")
async def test_asking_to_pull_creates_nothing(registry: Registry, world: World) -> None:
    await _enable(registry)
    credential = world.credential("admin")
    await bearer(registry.client, credential, [f"repository:{NEW}:pull"])
    pulled = await registry.client.get(
        f"/v2/{NEW}/manifests/v1", headers={**credential.basic, "Accept": "*/*"}
    )
    assert pulled.status_code == 404 and error_code(pulled) == "NAME_UNKNOWN"
    assert not await _exists(registry, NEW)


@pytest.mark.parametrize("via", ["jwt", "basic"])
async def test_an_existing_package_is_never_relinked(
    registry: Registry, world: World, api_repository: directory.Repository, via: str
) -> None:
    """A package named acme/api but linked to acme/web stays with acme/web, whatever an
    admin of the repository acme/api pushes."""
    db = registry.context.db
    web = await directory.find_repository(db, "acme/web")
    await packages.create_package(db, name=NEW, repository=web, now=registry.context.now())
    other = await directory.find_user(db, email("other"))
    await directory.grant_repository(db, repository=api_repository, user=other, role=Role.ADMIN)
    await _enable(registry)
    if via == "jwt":
        headers = await _jwt(registry, world, "other", "admin", NEW)
    else:
        headers = world.credential("other").basic
    _refused_as_unknown(await _push(registry, headers, NEW), NEW)
    link = await db.fetchone(
        "SELECT r.slug FROM package_links pl JOIN packages p ON p.id = pl.package_id"
        " JOIN repositories r ON r.id = pl.repository_id WHERE p.name = :n",
        {"n": NEW},
    )
    assert link is not None and link["slug"] == "web"

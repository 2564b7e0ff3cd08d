"""Workspace quotas on the registry API: a blob upload or mount that would take a
workspace over its quota is refused with 403 DENIED and a message a person can act on,
and leaves nothing behind; a blob the workspace already holds is always accepted.

Workspace `acme` gets a quota; its packages are created on first push (`--auth none`).
"""

from __future__ import annotations

import httpx
import pytest

from cargohold.services.accounts import directory
from cargohold.services.registry import quotas
from tests.functional.registry import Registry, digest_of, error_code, image_manifest, random_blob

NAME = "acme/app"


async def set_quota(registry: Registry, quota: int | None, slug: str = "acme") -> None:
    ctx = registry.context
    async with ctx.db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM workspaces WHERE slug = :s", {"s": slug}) is None:
            owner = await directory.create_user(tx, email=f"{slug}@example.com", now=ctx.now())
            await directory.create_workspace(tx, slug=slug, owner=owner, now=ctx.now())
        await quotas.set_quota(tx, workspace=slug, quota_bytes=quota)


async def used(registry: Registry, slug: str = "acme") -> int:
    return await quotas.workspace_bytes(registry.context.db, slug)


def assert_denied(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    assert error_code(response) == "DENIED"
    message: str = response.json()["errors"][0]["message"]
    return message


async def assert_nothing_left(registry: Registry, digest: str) -> None:
    assert await registry.rows("uploads") == []
    assert registry.stored_files("uploads/") == []
    assert digest not in [row["digest"] for row in await registry.rows("blobs")]
    assert digest not in [row["digest"] for row in await registry.rows("package_blobs")]
    assert not [key for key in registry.stored_files("blobs/") if digest.split(":")[1] in key]


async def test_upload_within_the_quota_is_accepted(registry: Registry) -> None:
    await set_quota(registry, 10_000)
    await registry.push_blob(NAME, random_blob(4000))
    await registry.push_blob("acme/other", random_blob(6000))
    assert await used(registry) == 10_000


async def test_monolithic_upload_over_the_quota_is_refused(registry: Registry) -> None:
    await set_quota(registry, 10_000)
    await registry.push_blob(NAME, random_blob(6000))
    data = random_blob(5000)
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
    )
    message = assert_denied(response)
    assert message == (
        "workspace acme would exceed its storage quota: this 4.9 KiB layer would bring it to"
        " 10.7 KiB of 9.8 KiB; delete images (space returns after garbage collection) or ask"
        " an admin to raise the quota"
    )
    assert response.json()["errors"][0]["detail"] == {
        "workspace": "acme",
        "used": 6000,
        "size": 5000,
        "quota": 10_000,
    }
    await assert_nothing_left(registry, digest_of(data))
    assert await used(registry) == 6000


async def test_monolithic_put_over_the_quota_is_refused(registry: Registry) -> None:
    await set_quota(registry, 1000)
    data = random_blob(1001)
    location = await registry.start_upload(NAME)
    response = await registry.client.put(location, params={"digest": digest_of(data)}, content=data)
    assert "would exceed its storage quota" in assert_denied(response)
    await assert_nothing_left(registry, digest_of(data))
    assert (await registry.client.get(location)).status_code == 404  # the session is gone


async def test_chunked_upload_over_the_quota_is_refused_when_it_is_finished(
    registry: Registry,
) -> None:
    await set_quota(registry, 2500)
    data = random_blob(3000)
    location = await registry.start_upload(NAME)
    for start in (0, 1000, 2000):  # the size is known only at the end
        chunk = data[start : start + 1000]
        response = await registry.client.patch(
            location,
            content=chunk,
            headers={"Content-Range": f"{start}-{start + len(chunk) - 1}"},
        )
        assert response.status_code == 202, response.text
        location = response.headers["location"]
    response = await registry.client.put(location, params={"digest": digest_of(data)})
    assert "this 2.9 KiB layer would bring it to 2.9 KiB of 2.4 KiB" in assert_denied(response)
    await assert_nothing_left(registry, digest_of(data))
    assert (await registry.client.get(location)).status_code == 404


async def test_upload_start_is_refused_when_the_workspace_is_full(registry: Registry) -> None:
    await set_quota(registry, 10_000)
    await registry.push_blob(NAME, random_blob(10_000))
    response = await registry.client.post(f"/v2/{NAME}/blobs/uploads/")
    assert assert_denied(response) == (
        "workspace acme is at its storage quota: 9.8 KiB of 9.8 KiB used; delete images"
        " (space returns after garbage collection) or ask an admin to raise the quota"
    )
    assert await registry.rows("uploads") == []


async def test_upload_start_is_refused_when_the_workspace_is_over_a_lowered_quota(
    registry: Registry,
) -> None:
    await registry.push_blob(NAME, random_blob(5000))
    await set_quota(registry, 1000)
    assert "is at its storage quota" in assert_denied(
        await registry.client.post(f"/v2/{NAME}/blobs/uploads/")
    )


async def test_blob_already_in_the_workspace_is_accepted(registry: Registry) -> None:
    data = random_blob(5000)
    await registry.push_blob(NAME, data)
    await set_quota(registry, 5001)  # one byte of room
    await registry.push_blob("acme/second", data)  # adds nothing: accepted
    links = await registry.context.db.fetchall(
        "SELECT p.name FROM package_blobs pb JOIN packages p ON p.id = pb.package_id"
        " WHERE pb.digest = :d ORDER BY p.name",
        {"d": digest_of(data)},
    )
    assert [row["name"] for row in links] == ["acme/app", "acme/second"]
    assert await used(registry) == 5000


async def test_blob_held_by_another_workspace_still_counts(registry: Registry) -> None:
    data = random_blob(5000)
    await registry.push_blob("globex/app", data)
    await set_quota(registry, 4000)
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
    )
    assert "would exceed its storage quota" in assert_denied(response)
    assert len(await registry.rows("package_blobs")) == 1  # globex's link only


async def test_mount_over_the_quota_is_refused(registry: Registry) -> None:
    data = random_blob(5000)
    await registry.push_blob("globex/app", data)
    await set_quota(registry, 4000)
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest_of(data), "from": "globex/app"}
    )
    assert "this 4.9 KiB layer would bring it to 4.9 KiB of 3.9 KiB" in assert_denied(response)
    assert len(await registry.rows("package_blobs")) == 1
    assert await registry.rows("uploads") == []


async def test_mount_of_a_blob_the_workspace_holds_is_accepted(registry: Registry) -> None:
    data = random_blob(5000)
    await registry.push_blob("acme/base", data)
    await set_quota(registry, 5001)
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest_of(data), "from": "acme/base"}
    )
    assert response.status_code == 201, response.text


async def test_manifests_are_not_checked_against_the_quota(registry: Registry) -> None:
    image = image_manifest([random_blob(1000)])
    for blob in image.blobs:
        await registry.push_blob(NAME, blob)
    await set_quota(registry, await used(registry))  # full
    response = await registry.put_manifest(NAME, "v1", image, push_blobs=False)
    assert response.status_code == 201, response.text


async def test_packages_of_a_workspace_with_a_longer_slug_do_not_count(
    registry: Registry,
) -> None:
    await set_quota(registry, 1000)
    await registry.push_blob("acme-labs/app", random_blob(5000))  # another workspace
    await registry.push_blob("acme0/app", random_blob(5000))
    await registry.push_blob(NAME, random_blob(1000))
    assert await used(registry) == 1000


async def test_workspaces_without_a_quota_are_not_limited(registry: Registry) -> None:
    await set_quota(registry, None)
    await registry.push_blob(NAME, random_blob(50_000))


@pytest.mark.parametrize("name", ["acme", "nowhere/app"])
async def test_names_outside_any_workspace_with_a_quota_are_not_limited(
    registry: Registry, name: str
) -> None:
    await set_quota(registry, 0)
    await registry.push_blob(name, random_blob(5000))


async def test_the_quota_is_checked_again_where_the_blob_is_linked(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pushes may both pass the early check; the second to link is still refused."""
    from cargohold.services.registry import uploads

    await set_quota(registry, 10_000)
    monkeypatch.setattr(uploads, "check_quota", _passes)  # as if both checked at once
    await registry.push_blob(NAME, random_blob(6000))
    data = random_blob(5000)
    response = await registry.client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest_of(data)}, content=data
    )
    assert "would exceed its storage quota" in assert_denied(response)
    assert await used(registry) == 6000
    assert await registry.rows("uploads") == []
    assert digest_of(data) not in [row["digest"] for row in await registry.rows("blobs")]


async def _passes(*args: object, **kwargs: object) -> None:
    return None

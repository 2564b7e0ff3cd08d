"""Retention policies through the API, one test per rule, on a package with many tags and
multi-arch indexes with signatures and SBOMs pushed through /v2 (images.py: Lifecycle).

The preview lists exactly what the run deletes; bad policies are refused with a message;
a policy that would delete every tag needs `confirm_delete_all_tags`."""

from __future__ import annotations

from typing import Any

import pytest

from cargohold.services.lifecycle import retention
from tests.functional.api.images import Lifecycle, age, build_lifecycle, registry_as
from tests.functional.api.people import Api, assert_problem

NAME = "acme/web/api"
BASE = f"/packages/{NAME}/-/retention"


async def preview(api: Api, policy: dict[str, Any], who: str = "admin") -> dict[str, Any]:
    response = await api.post(f"{BASE}/preview", who, json=policy)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def save_and_run(api: Api, policy: dict[str, Any]) -> dict[str, Any]:
    saved = await api.put(BASE, "admin", json={**policy, "confirm_delete_all_tags": True})
    assert saved.status_code == 200, saved.text
    response = await api.post(f"{BASE}/run", "admin")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tag_names(plan: dict[str, Any]) -> set[str]:
    return {tag["name"] for tag in plan["tags"]}


def manifest_digests(plan: dict[str, Any]) -> set[str]:
    return {m["digest"] for m in plan["manifests"]}


async def remaining_tags(api: Api) -> set[str]:
    rows = await api.rows(
        "SELECT t.name FROM tags t JOIN packages p ON p.id = t.package_id WHERE p.name = :n",
        n=NAME,
    )
    return {row["name"] for row in rows}


async def remaining_manifests(api: Api) -> set[str]:
    rows = await api.rows(
        "SELECT m.digest FROM manifests m JOIN packages p ON p.id = m.package_id WHERE p.name = :n",
        n=NAME,
    )
    return {row["digest"] for row in rows}


@pytest.fixture
async def world(api: Api) -> Lifecycle:
    return await build_lifecycle(api, NAME)


async def test_keep_newest_keeps_the_newest_tags(api: Api, world: Lifecycle) -> None:
    plan = await preview(api, {"keep_newest": 5})
    old_builds = {f"build-{n}" for n in range(1, 8)}
    assert tag_names(plan) == old_builds | {"multi", "v1.0", "v2.0"}
    assert plan["manifests"] == []  # no untagged_days: images stay, untagged
    assert plan["tags_kept"] == 5
    ran = await save_and_run(api, {"keep_newest": 5})
    assert ran["tags"] == plan["tags"]
    assert await remaining_tags(api) == {f"build-{n}" for n in range(8, 13)}
    assert len(await remaining_manifests(api)) == 25


async def test_keep_pattern_keeps_matching_tags(api: Api, world: Lifecycle) -> None:
    plan = await preview(api, {"keep_newest": 5, "keep_pattern": "v*, mul?i"})
    assert tag_names(plan) == {f"build-{n}" for n in range(1, 8)}
    ran = await save_and_run(api, {"keep_newest": 5, "keep_pattern": "v*,mul?i"})
    assert ran == plan
    assert {"v1.0", "v2.0", "multi", "build-12"} <= await remaining_tags(api)


async def test_tag_days_deletes_tags_older_than_that(api: Api, world: Lifecycle) -> None:
    plan = await preview(api, {"tag_days": 10})
    assert tag_names(plan) == {"build-1", "build-2", "multi", "v1.0", "v2.0"}
    ages = {tag["name"]: tag["age_days"] for tag in plan["tags"]}
    assert ages["build-1"] == 11 and ages["v1.0"] == 200
    assert {tag["name"]: tag["digest"] for tag in plan["tags"]}["build-1"] == world.builds[
        "build-1"
    ]


async def test_keep_newest_and_tag_days_both_must_allow_a_deletion(
    api: Api, world: Lifecycle
) -> None:
    """build-2 is not among the newest 10 but younger than 11 days: it stays."""
    plan = await preview(api, {"keep_newest": 10, "tag_days": 11})
    assert tag_names(plan) == {"build-1", "multi", "v1.0", "v2.0"}


async def test_untagged_days_deletes_old_untagged_images_with_platforms_and_referrers(
    api: Api, world: Lifecycle
) -> None:
    assert world.orphan is not None and world.multi is not None
    plan = await preview(api, {"untagged_days": 30})
    assert plan["tags"] == []
    orphan = world.orphan
    why = {m["digest"]: (m["reason"], m["of"]) for m in plan["manifests"]}
    assert why == {
        world.old_untagged: ("untagged", None),
        orphan.index.digest: ("untagged", None),
        orphan.children[1].digest: ("platform", orphan.index.digest),
        orphan.signature.digest: ("referrer", orphan.index.digest),
    }
    media = {m["digest"]: m["media_type"] for m in plan["manifests"]}
    assert media[orphan.index.digest] == "application/vnd.oci.image.index.v1+json"
    assert plan["manifests_kept"] == 25 - 4
    ran = await save_and_run(api, {"untagged_days": 30})
    assert ran == plan
    assert manifest_digests(plan).isdisjoint(await remaining_manifests(api))
    assert world.young_untagged in await remaining_manifests(api)


async def test_children_of_a_kept_index_and_referrers_of_a_kept_manifest_are_kept(
    api: Api, world: Lifecycle
) -> None:
    """`multi` is tagged: its platforms (old, untagged themselves), its signature and the
    SBOMs of its amd64 platform stay, also the one pushed beside the deleted index."""
    assert world.orphan is not None and world.multi is not None
    await save_and_run(api, {"untagged_days": 1})
    left = await remaining_manifests(api)
    assert world.multi.digests <= left
    assert world.orphan.sbom.digest in left  # an SBOM of the shared, kept platform
    async with registry_as(api, "reader") as registry:
        for digest in world.multi.digests:
            response = await registry.client.get(
                f"/v2/{NAME}/manifests/{digest}", headers={"Accept": "*/*"}
            )
            assert response.status_code == 200
        referrers = await registry.client.get(f"/v2/{NAME}/referrers/{world.multi.index.digest}")
        assert [m["digest"] for m in referrers.json()["manifests"]] == [
            world.multi.signature.digest
        ]


async def test_a_deleted_tag_leaves_its_index_to_untagged_days(api: Api, world: Lifecycle) -> None:
    """Deleting the tag `multi` makes the index untagged; being old, it goes in the same
    run with its platforms and referrers, and so does the platform it shared."""
    assert world.multi is not None and world.orphan is not None
    policy = {"keep_newest": 5, "keep_pattern": "v*", "untagged_days": 30}
    plan = await preview(api, policy)
    assert tag_names(plan) == {f"build-{n}" for n in range(1, 8)} | {"multi"}
    deleted = manifest_digests(plan)
    assert world.multi.digests | world.orphan.digests | {world.old_untagged} == deleted
    assert not deleted & set(world.builds.values())  # build images are young, now untagged
    ran = await save_and_run(api, policy)
    assert ran == plan
    assert await remaining_manifests(api) == (
        set(world.builds.values()) | set(world.releases.values()) | {world.young_untagged}
    )


async def test_protected_tags_are_never_deleted_by_retention(api: Api, world: Lifecycle) -> None:
    protect = await api.put(
        f"/packages/{NAME}/-/protection", "admin", json={"patterns": ["v*", "build-1"]}
    )
    assert protect.status_code == 200
    plan = await preview(api, {"tag_days": 1})
    assert tag_names(plan) == {f"build-{n}" for n in range(2, 12)} | {"multi"}
    assert plan["deletes_every_tag"] is False


async def test_the_preview_is_exactly_what_the_run_deletes(api: Api, world: Lifecycle) -> None:
    policy = {"keep_newest": 3, "keep_pattern": "v2.*", "tag_days": 4, "untagged_days": 7}
    plan = await preview(api, policy)
    assert plan["tags"] and plan["manifests"]
    tags_before, manifests_before = await remaining_tags(api), await remaining_manifests(api)
    assert plan["tags_kept"] == len(tags_before) - len(plan["tags"])
    ran = await save_and_run(api, policy)
    assert ran == plan
    assert await remaining_tags(api) == tags_before - tag_names(plan)
    assert await remaining_manifests(api) == manifests_before - manifest_digests(plan)
    again = await api.post(f"{BASE}/run", "admin")
    assert (again.json()["tags"], again.json()["manifests"]) == ([], [])


async def test_a_preview_deletes_and_saves_nothing(api: Api, world: Lifecycle) -> None:
    tags_before, manifests_before = await remaining_tags(api), await remaining_manifests(api)
    await preview(api, {"keep_newest": 1, "untagged_days": 1})
    assert await remaining_tags(api) == tags_before
    assert await remaining_manifests(api) == manifests_before
    assert_problem(await api.get(BASE, "admin"), 404)


async def test_garbage_collection_runs_every_saved_policy(api: Api, world: Lifecycle) -> None:
    """`apply_policies` (called by garbage collection): a dry run counts exactly what the
    real run deletes."""
    await api.push("acme/web/db", "only")
    for name, policy in ((NAME, {"keep_newest": 2, "untagged_days": 30}), ("acme/web/db", {})):
        if policy:
            assert (await api.put(f"/packages/{name}/-/retention", "owner", json=policy)).is_success
    expected = await preview(api, {"keep_newest": 2, "untagged_days": 30})
    dry = await retention.apply_policies(api.context, dry_run=True)
    assert (dry.packages, dry.tags_deleted, dry.manifests_deleted) == (
        1,
        len(expected["tags"]),
        len(expected["manifests"]),
    )
    assert len(await remaining_tags(api)) == 15
    real = await retention.apply_policies(api.context, dry_run=False)
    assert (real.tags_deleted, real.manifests_deleted) == (dry.tags_deleted, dry.manifests_deleted)
    assert [p.package for p in real.plans] == [NAME]
    assert await remaining_tags(api) == {"build-11", "build-12"}


async def test_a_run_now_that_deletes_nothing_is_recorded_as_applied(
    api: Api, world: Lifecycle
) -> None:
    """So that the package's page counts it as the policy's last run; a collection that
    deletes nothing records nothing."""
    ran = await save_and_run(api, {"keep_newest": 100})
    assert ran["tags"] == [] and ran["manifests"] == []
    query = "SELECT action, actor_name, package, target FROM events WHERE action LIKE 'retention.%'"
    [event] = await api.rows(query)
    assert dict(event) == {
        "action": "retention.applied",
        "actor_name": "admin@example.com",
        "package": NAME,
        "target": f"{NAME}: nothing to delete",
    }
    await retention.apply_policies(api.context, dry_run=False)
    assert len(await api.rows(query)) == 1


# Saving, reading and removing a policy.


async def test_a_saved_policy_is_read_back_by_readers(api: Api) -> None:
    body = {"keep_newest": 10, "keep_pattern": "v*,release-*", "untagged_days": 14}
    saved = await api.put(BASE, "admin", json=body)
    assert saved.status_code == 200, saved.text
    got = await api.get(BASE, "reader", scope="read:package")
    assert got.status_code == 200
    assert {k: got.json()[k] for k in body} == body
    assert got.json()["tag_days"] is None
    assert got.json()["updated_by"] == "admin@example.com"
    assert (await api.delete(BASE, "admin")).status_code == 204
    assert "no retention policy" in assert_problem(await api.get(BASE, "reader"), 404)["detail"]
    assert_problem(await api.delete(BASE, "admin"), 404)


async def test_running_without_a_saved_policy_is_404(api: Api) -> None:
    assert (
        "no retention policy"
        in assert_problem(await api.post(f"{BASE}/run", "admin"), 404)["detail"]
    )


# Who may.


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", BASE, {"keep_newest": 1}),
        ("DELETE", BASE, None),
        ("POST", f"{BASE}/preview", {"keep_newest": 1}),
        ("POST", f"{BASE}/run", None),
    ],
)
async def test_changing_previewing_and_running_need_admin(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    kw = {"json": body} if body is not None else {}
    assert_problem(await api.request(method, path, "writer", **kw), 403)
    assert_problem(await api.request(method, path, "owner", "write:package", **kw), 403)
    assert_problem(await api.request(method, path, "member", **kw), 404)
    assert_problem(await api.request(method, path, None, **kw), 401)


async def test_a_package_nobody_may_read_is_404(api: Api) -> None:
    assert_problem(await api.get(BASE, "outsider"), 404)
    assert_problem(await api.get("/packages/acme/web/nope/-/retention", "owner"), 404)


# Bad input.


@pytest.mark.parametrize(
    ("pattern", "said"),
    [
        ("v*,", "empty"),
        ("v*,,rc-*", "empty"),
        ("v 1", "'v 1'"),
        ("v[0-9]*", "'v[0-9]*'"),
        ("a/b", "'a/b'"),
        ("ok,ümlaut", "'ümlaut'"),
        ("x" * 129, "longer than 128"),
        (",".join(f"p{n}" for n in range(21)), "at most 20"),
    ],
)
async def test_invalid_keep_patterns_are_refused_naming_the_pattern(
    api: Api, pattern: str, said: str
) -> None:
    policy = {"keep_newest": 3, "keep_pattern": pattern}
    for method, path in (("PUT", BASE), ("POST", f"{BASE}/preview")):
        response = await api.request(method, path, "admin", json=policy)
        assert said in assert_problem(response, 422)["detail"]
    assert_problem(await api.get(BASE, "admin"), 404)


async def test_an_empty_keep_pattern_is_refused_only_when_it_has_an_empty_item(
    api: Api,
) -> None:
    assert (await api.put(BASE, "admin", json={"keep_newest": 3, "keep_pattern": ""})).is_success
    assert (await api.get(BASE, "admin")).json()["keep_pattern"] is None


@pytest.mark.parametrize(
    "policy",
    [
        {},
        {"keep_pattern": "v*"},
        {"keep_newest": 0},
        {"keep_newest": 10_001},
        {"untagged_days": 0},
        {"tag_days": 36_501},
        {"keep_newest": "many"},
        {"keep_newest": 2, "keep_everything": True},
    ],
)
async def test_invalid_policies_are_refused_with_a_message(
    api: Api, policy: dict[str, Any]
) -> None:
    body = assert_problem(await api.put(BASE, "admin", json=policy), 422)
    assert body["detail"]
    if set(policy) <= {"keep_pattern"}:
        assert "keep_newest, tag_days or untagged_days" in body["detail"]
    assert_problem(await api.post(f"{BASE}/preview", "admin", json=policy), 422)


async def test_a_policy_that_deletes_every_tag_needs_confirmation(
    api: Api, world: Lifecycle
) -> None:
    await age(api, NAME, 2, tag="build-12")
    policy = {"tag_days": 1}
    assert (await preview(api, policy))["deletes_every_tag"] is True
    refused = assert_problem(await api.put(BASE, "admin", json=policy), 409)
    assert "every tag" in refused["detail"] and "confirm_delete_all_tags" in refused["detail"]
    assert_problem(await api.get(BASE, "admin"), 404)
    confirmed = await api.put(BASE, "admin", json={**policy, "confirm_delete_all_tags": True})
    assert confirmed.status_code == 200
    assert (await api.post(f"{BASE}/run", "admin")).json()["tags_kept"] == 0
    assert await remaining_tags(api) == set()


async def test_a_package_without_tags_needs_no_confirmation(api: Api) -> None:
    assert (await api.put(BASE, "admin", json={"tag_days": 1})).status_code == 200

"""/api/v1/gc/runs: what each garbage collection did, for site admins."""

from __future__ import annotations

from cargohold.services.lifecycle import gc
from tests.functional.api.people import Api, assert_problem


async def test_site_admins_see_the_newest_collections_first(api: Api) -> None:
    await gc.collect(api.context, grace=0)
    await gc.collect(api.context, grace=0)
    await gc.collect(api.context, dry_run=True)  # a dry run is no run

    response = await api.get("/gc/runs", "site_admin")

    assert response.status_code == 200, response.text
    runs = response.json()["items"]
    assert [run["outcome"] for run in runs] == ["done", "done"]
    assert runs[0]["id"] > runs[1]["id"]
    assert runs[0]["figures"]["freed_bytes"] == 0
    assert runs[0]["finished_at"] >= runs[0]["started_at"]


async def test_the_runs_page_like_every_list_with_next_after(api: Api) -> None:
    for _ in range(3):
        await gc.collect(api.context, grace=0)

    first = (await api.get("/gc/runs", "site_admin", params={"limit": 2})).json()
    rest = (
        await api.get("/gc/runs", "site_admin", params={"limit": 2, "after": first["next_after"]})
    ).json()

    ids = [run["id"] for run in first["items"] + rest["items"]]
    assert len(first["items"]) == 2 and first["next_after"] == str(ids[1])
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)
    assert rest["next_after"] is None


async def test_only_site_admins_see_collections(api: Api) -> None:
    for who in ("owner", "member"):
        problem = assert_problem(await api.get("/gc/runs", who), 403)
        assert "site admins" in problem["detail"]
    assert (await api.get("/gc/runs")).status_code == 401


async def test_the_limit_is_bounded(api: Api) -> None:
    assert_problem(await api.get("/gc/runs", "site_admin", params={"limit": 0}), 422)
    assert_problem(await api.get("/gc/runs", "site_admin", params={"limit": 101}), 422)


async def test_a_next_after_beyond_any_run_id_is_refused_not_an_error(api: Api) -> None:
    for beyond in (2**31, 2**62):
        problem = assert_problem(
            await api.get("/gc/runs", "site_admin", params={"after": beyond}), 422
        )
        assert "after" in problem["detail"]

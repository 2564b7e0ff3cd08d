"""Nobody sees a package they cannot pull, nor its name; delete buttons only for those
who may, and the server refuses the forms anyway; every form needs its CSRF token."""

from __future__ import annotations

import pytest

from tests.functional.ui.conftest import Ui


@pytest.mark.parametrize("who", ["outsider", "other", "member"])
async def test_private_packages_are_invisible_to_those_who_may_not_pull(ui: Ui, who: str) -> None:
    await ui.api.push("acme/web/api", "v1")
    client = await ui.as_(who)
    page = await client.get("/w/acme")
    assert "acme/web/api" not in page.text
    assert "acme/site/www" in page.text  # public
    for path in ("/p/acme/web/api", "/p/acme/web/api/-/tags/v1", "/w/acme/repos/web"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "acme/web/api" not in response.text


async def test_a_workspace_with_nothing_to_see_is_not_found(ui: Ui) -> None:
    response = await (await ui.as_("outsider")).get("/w/globex")
    assert response.status_code == 404
    assert "globex/app" not in response.text


async def test_anonymous_visitors_see_public_packages_only(ui: Ui) -> None:
    visitor = ui.anonymous()
    page = await visitor.get("/w/acme")
    assert "acme/site/www" in page.text and "acme/web/api" not in page.text
    assert (await visitor.get("/p/acme/web/api")).status_code == 404


async def test_reader_sees_no_delete_buttons_and_is_refused_when_posting(ui: Ui) -> None:
    digest = await ui.api.push("acme/web/api", "v1")
    reader = await ui.as_("reader")
    for path in ("/p/acme/web/api", "/p/acme/web/api/-/tags/v1"):
        page = await reader.get(path)
        assert page.status_code == 200
        assert "/delete" not in page.text
    assert (await reader.get("/p/acme/web/api/-/tags/v1/delete")).status_code == 403
    refused = await reader.post("/p/acme/web/api/-/tags/v1/delete")
    assert refused.status_code == 403
    refused = await reader.post(f"/p/acme/web/api/-/manifests/{digest}/delete")
    assert refused.status_code == 403
    assert "v1" in [
        tag["name"]
        for tag in (await ui.api.get("/packages/acme/web/api/-/tags", "owner")).json()["items"]
    ]


async def test_writer_deletes_a_tag_but_not_an_image(ui: Ui) -> None:
    digest = await ui.api.push("acme/web/api", "v1")
    writer = await ui.as_("writer")
    page = await writer.get("/p/acme/web/api")
    assert "/-/tags/v1/delete" in page.text
    tag_page = await writer.get("/p/acme/web/api/-/tags/v1")
    assert f"/-/manifests/{digest}/delete" not in tag_page.text
    refused = await writer.post(f"/p/acme/web/api/-/manifests/{digest}/delete")
    assert refused.status_code == 403
    confirm = await writer.get("/p/acme/web/api/-/tags/v1/delete")
    assert "Only the tag goes" in confirm.text and digest in confirm.text
    deleted = await writer.post("/p/acme/web/api/-/tags/v1/delete")
    assert deleted.status_code == 303
    after = await writer.get("/p/acme/web/api")
    assert "/-/tags/v1" not in after.text
    assert digest[:19] in after.text  # now an untagged version


async def test_admin_deletes_an_image_version_with_its_tags(ui: Ui) -> None:
    digest = await ui.api.push("acme/web/api", "v1")
    admin = await ui.as_("admin")
    confirm = await admin.get(f"/p/acme/web/api/-/manifests/{digest}/delete")
    assert confirm.status_code == 200
    assert digest in confirm.text and "<code>v1</code>" in confirm.text
    deleted = await admin.post(f"/p/acme/web/api/-/manifests/{digest}/delete")
    assert deleted.status_code == 303
    page = await admin.get("/p/acme/web/api")
    assert digest[:19] not in page.text
    gone = await ui.api.client.get(
        "/api/v1/packages/acme/web/api/-/tags", headers=await ui.api.headers("owner")
    )
    assert gone.json()["items"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/p/acme/web/api/-/tags/v1/delete",
        "/settings/tokens",
        "/w/acme/members",
        "/new-package",
        "/new-workspace",
        "/w/acme/settings",
        "/w/acme/projects",
        "/w/acme/projects/PLAT/settings",
        "/w/acme/repos",
        "/w/acme/repos/web/settings",
        "/admin/people",
        "/invitation",
        "/sign-out",
        "/language",
    ],
)
async def test_posts_without_the_csrf_token_are_refused(ui: Ui, path: str) -> None:
    await ui.api.push("acme/web/api", "v1")
    owner = await ui.as_("owner")
    refused = await owner.post(
        path, {"name": "x", "scope": "read:package", "repository": "acme/web"}, csrf=False
    )
    assert refused.status_code == 403
    forged = await owner.post(path, {"csrf": "forged"}, csrf=False)
    assert forged.status_code == 403
    tags = await ui.api.get("/packages/acme/web/api/-/tags", "owner")
    assert [tag["name"] for tag in tags.json()["items"]] == ["v1"]


async def test_anonymous_changes_send_to_sign_in(ui: Ui) -> None:
    visitor = await ui.as_(None)
    response = await visitor.post("/settings/tokens", {"name": "x", "scope": "read:package"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")


async def test_only_owners_manage_members(ui: Ui) -> None:
    member = await ui.as_("member")
    page = await member.get("/w/acme/members")
    assert page.status_code == 200
    assert 'value="add_member"' not in page.text
    refused = await member.post(
        "/w/acme/members", {"action": "add_member", "email": "outsider@example.com"}
    )
    assert refused.status_code == 403
    owner = await ui.as_("owner")
    added = await owner.post(
        "/w/acme/members", {"action": "add_member", "email": "outsider@example.com"}
    )
    assert added.status_code == 303
    granted = await owner.post(
        "/w/acme/members",
        {
            "action": "grant",
            "target": "repository:web",
            "email": "outsider@example.com",
            "role": "read",
        },
    )
    assert granted.status_code == 303
    page = await owner.get("/w/acme/members")
    assert page.text.count("outsider@example.com") >= 2
    assert (await (await ui.as_("outsider")).get("/p/acme/web/api")).status_code == 200

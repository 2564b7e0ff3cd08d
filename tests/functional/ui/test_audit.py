"""The audit log page of a workspace (`/w/WS/audit`), and an entry for each kind of change
made in the UI: as the person signed in, never as a token."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.functional.api.people import email
from tests.functional.ui.conftest import PASSWORD, Ui, push_multi_arch, set_password

LOG = "/w/acme/audit"


async def last(ui: Ui, action: str) -> dict[str, Any]:
    rows = await ui.api.rows(
        "SELECT * FROM events WHERE action = :action ORDER BY id DESC LIMIT 1", action=action
    )
    assert rows, f"no {action} event"
    return rows[0]


def by(event: dict[str, Any], who: str) -> None:
    assert (event["actor_kind"], event["actor_name"]) == ("user", email(who))
    assert event["data"] is None or "token_id" not in event["data"]


async def test_owners_read_the_audit_log_of_their_workspace(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.get(LOG)
    assert page.status_code == 200
    assert "Audit log of acme" in page.text
    assert "Package created" in page.text and "acme/web/api" in page.text
    assert f'href="{LOG}"' in (await owner.get("/w/acme")).text


async def test_members_who_do_not_own_the_workspace_are_refused(ui: Ui) -> None:
    member = await ui.as_("member")
    assert (await member.get(LOG)).status_code == 403
    assert f'href="{LOG}"' not in (await member.get("/w/acme")).text


async def test_others_find_nothing_and_visitors_are_sent_to_sign_in(ui: Ui) -> None:
    assert (await (await ui.as_("outsider")).get(LOG)).status_code == 404
    visitor = await ui.as_(None)
    response = await visitor.get(LOG)
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


async def test_the_page_filters_and_pages(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.get(LOG, params={"action": "package.created"})
    listed = re.sub(r"<select.*?</select>", "", page.text, flags=re.S)  # the filter's options
    assert "Package created" in listed and "Member added" not in listed
    for i in range(60):
        await ui.api.post("/workspaces/acme/projects", "owner", json={"key": f"P{i}"})
    first = await owner.get(LOG)
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert older is not None
    second = await owner.get(older[1].replace("&amp;", "&"))
    assert second.status_code == 200 and "Workspace created" in second.text
    refused = await owner.get(LOG, params={"since": "last tuesday"})
    assert refused.status_code == 400 and "last tuesday" in refused.text


async def test_adding_removing_and_granting_members_in_the_ui_is_recorded(ui: Ui) -> None:
    owner = await ui.as_("owner")
    members = "/w/acme/members"
    added = await owner.post(
        members, {"action": "add_member", "email": email("outsider"), "role": "member"}
    )
    assert added.status_code == 303
    by(await last(ui, "member.added"), "owner")
    granted = await owner.post(
        members,
        {"action": "grant", "email": email("outsider"), "target": "repository:web", "role": "read"},
    )
    assert granted.status_code == 303
    by(await last(ui, "grant.changed"), "owner")
    removed = await owner.post(members, {"action": "remove_member", "email": email("outsider")})
    assert removed.status_code == 303
    by(await last(ui, "member.removed"), "owner")


async def test_deleting_a_tag_and_an_image_in_the_ui_is_recorded(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    admin = await ui.as_("admin")
    assert (await admin.post("/p/acme/web/api/-/tags/v2/delete")).status_code == 303
    event = await last(ui, "tag.deleted")
    by(event, "admin")
    assert (event["tag"], event["digest"]) == ("v2", pushed.index)
    deleted = await admin.post(f"/p/acme/web/api/-/manifests/{pushed.index}/delete")
    assert deleted.status_code == 303
    event = await last(ui, "manifest.deleted")
    by(event, "admin")
    assert event["digest"] == pushed.index


async def test_making_and_revoking_a_token_in_the_ui_is_recorded(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(
        "/settings/tokens", {"name": "laptop", "scope": "read:package", "expires": "30d"}
    )
    assert created.status_code in (200, 303)
    event = await last(ui, "token.created")
    by(event, "owner")
    assert "chp_" not in str(event)  # never the secret
    [token] = await ui.api.rows("SELECT id FROM tokens WHERE name = 'laptop'")
    assert (await owner.post(f"/settings/tokens/{token['id']}/revoke")).status_code == 303
    by(await last(ui, "token.revoked"), "owner")


async def test_package_settings_changed_in_the_ui_are_recorded(ui: Ui) -> None:
    admin = await ui.as_("admin")
    settings = "/p/acme/web/api/-/settings"
    protected = await admin.post(settings, {"action": "protection", "patterns": "v*"})
    assert protected.status_code in (200, 303)
    by(await last(ui, "settings.changed"), "admin")
    saved = await admin.post(settings, {"action": "save", "keep_newest": "5"})
    assert saved.status_code in (200, 303)
    event = await last(ui, "settings.changed")
    assert '"setting":"retention"' in event["data"]


async def _sign_in(ui: Ui, password: str) -> httpx.Response:
    client = ui.api.client
    client.cookies.clear()
    form = await client.get("/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    return await client.post(
        "/sign-in", data={"email": email("owner"), "password": password, "csrf": csrf[1]}
    )


async def test_signing_in_is_recorded_and_so_is_a_wrong_password(ui: Ui) -> None:
    await set_password(ui, "owner")
    assert (await _sign_in(ui, "not the password")).status_code == 401
    failed = await last(ui, "signin.failed")
    assert (failed["outcome"], failed["actor_kind"]) == ("refused", "anonymous")
    assert failed["actor_name"] == email("owner") and failed["workspace"] is None
    assert "not the password" not in str(failed)
    assert (await _sign_in(ui, PASSWORD)).status_code == 303
    succeeded = await last(ui, "signin.succeeded")
    by(succeeded, "owner")
    assert succeeded["client_address"] == "127.0.0.1"
    assert PASSWORD not in str(succeeded)

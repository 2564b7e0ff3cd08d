"""API tokens from the UI: created and shown once with the login command, listed with
their last use, revoked; access tokens of repositories (admins) and workspaces (owners)."""

from __future__ import annotations

import re

from tests.functional.api.people import email
from tests.functional.ui.conftest import PASSWORD, Ui, set_password
from tests.functional.ui.test_messages import assert_all_japanese, japanese


async def test_create_use_and_revoke_a_personal_token(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.follow(
        await owner.post(
            "/settings/tokens", {"name": "laptop", "scope": "write:package", "expires": "90d"}
        )
    )
    assert created.status_code == 200, created.text
    secret = re.search(r"(chp_[a-z0-9]{12}_[A-Za-z0-9_-]{43})", created.text)
    assert secret
    assert "docker login registry.test --username owner@example.com --password-stdin" in (
        created.text
    )
    used = await ui.api.client.get("/api/v1/user", headers={"Authorization": f"Bearer {secret[1]}"})
    assert used.status_code == 200
    listed = await owner.get("/settings/tokens")
    assert "laptop" in listed.text and secret[1] not in listed.text
    token_id = secret[1].split("_")[1]
    revoked = await owner.post(f"/settings/tokens/{token_id}/revoke")
    assert revoked.status_code == 303
    refused = await ui.api.client.get(
        "/api/v1/user", headers={"Authorization": f"Bearer {secret[1]}"}
    )
    assert refused.status_code == 401
    assert "Revoked" in (await owner.get("/settings/tokens")).text


async def test_a_token_needs_a_valid_scope_and_expiry(ui: Ui) -> None:
    owner = await ui.as_("owner")
    response = await owner.post(
        "/settings/tokens", {"name": "bad", "scope": "root", "expires": "30d"}
    )
    assert response.status_code == 400
    response = await owner.post(
        "/settings/tokens", {"name": "bad", "scope": "read:package", "expires": "never"}
    )
    assert response.status_code == 400


async def test_repository_access_tokens_are_for_admins(ui: Ui) -> None:
    admin = await ui.as_("admin")
    created = await admin.follow(
        await admin.post(
            "/w/acme/repos/web/tokens", {"name": "ci", "scope": "write:package", "expires": "30d"}
        )
    )
    assert created.status_code == 200
    assert re.search(r"cha_[a-z0-9]{12}_", created.text)
    assert "--username ci --password-stdin" in created.text
    writer = await ui.as_("writer")
    assert (await writer.get("/w/acme/repos/web/tokens")).status_code == 403


async def test_workspace_access_tokens_are_for_owners(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(
        "/w/acme/tokens", {"name": "deploy", "scope": "read:package", "expires": "7d"}
    )
    assert created.status_code == 303
    assert "deploy" in (await owner.get("/w/acme/tokens")).text
    member = await ui.as_("member")
    assert (await member.get("/w/acme/tokens")).status_code == 403


async def _refresh_token(ui: Ui, who: str) -> str:
    """A refresh token from a password login at /token, as `docker login` gets one."""
    await set_password(ui, who)
    response = await ui.api.client.post(
        "/token",
        data={
            "grant_type": "password",
            "username": email(who),
            "password": PASSWORD,
            "access_type": "offline",
        },
    )
    assert response.status_code == 200, response.text
    refresh: str = response.json()["refresh_token"]
    return refresh


async def test_sessions_and_refresh_tokens_are_listed_and_revoked_with_the_tokens(
    ui: Ui,
) -> None:
    refresh = await _refresh_token(ui, "owner")
    owner = await ui.as_("owner")
    page = await owner.get("/settings/tokens")
    assert "Sessions and refresh tokens" in page.text
    assert "Web session (this session)" in page.text
    assert "Refresh token" in page.text
    assert refresh.split("_", 2)[2] not in page.text
    refresh_id = refresh.split("_")[1]
    assert f"/settings/tokens/{refresh_id}/revoke" in page.text

    revoked = await owner.post(f"/settings/tokens/{refresh_id}/revoke")
    assert revoked.status_code == 303
    refused = await ui.api.client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
    )
    assert refused.status_code == 401
    assert f"/settings/tokens/{refresh_id}/revoke" not in (await owner.get("/settings/tokens")).text


async def test_revoking_your_own_session_signs_you_out(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.get("/settings/tokens")
    mine = page.text[page.text.index("(this session)") :]
    found = re.search(r'href="/settings/tokens/([a-z0-9]{12})/revoke"', mine)
    assert found
    assert (await owner.post(f"/settings/tokens/{found[1]}/revoke")).status_code == 303
    assert (await owner.get("/settings/tokens")).status_code == 303


async def test_nobody_sees_or_ends_anothers_sessions(ui: Ui) -> None:
    refresh = await _refresh_token(ui, "owner")
    member = await ui.as_("member")
    assert "Refresh token" not in (await member.get("/settings/tokens")).text
    refused = await member.post(f"/settings/tokens/{refresh.split('_')[1]}/revoke")
    assert refused.status_code == 404
    assert (await member.get(f"/settings/tokens/{refresh.split('_')[1]}/revoke")).status_code == 404


async def test_revoking_a_token_is_confirmed_first_and_said_after(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.follow(
        await owner.post("/settings/tokens", {"name": "ci", "scope": "read:package"})
    )
    secret = re.search(r"chp_([a-z0-9]{12})_", created.text)
    assert secret
    listed = await owner.get("/settings/tokens")
    assert f'href="/settings/tokens/{secret[1]}/revoke"' in listed.text  # a link, not a button
    confirm = await owner.get(f"/settings/tokens/{secret[1]}/revoke")
    assert confirm.status_code == 200
    assert "Revoke token ci?" in confirm.text and f"chp_{secret[1]}_…" in confirm.text
    assert f'action="/settings/tokens/{secret[1]}/revoke"' in confirm.text
    assert await _active(ui, secret[1])  # asking revokes nothing
    revoked = await owner.post(f"/settings/tokens/{secret[1]}/revoke")
    assert revoked.headers["location"] == f"/settings/tokens?revoked={secret[1]}"
    after = await owner.get(revoked.headers["location"])
    assert "Token ci is revoked: it can no longer be used." in after.text
    assert not await _active(ui, secret[1])
    again = await owner.get(f"/settings/tokens/{secret[1]}/revoke")
    assert again.status_code == 404  # a revoked token is not offered again


async def test_revoking_an_access_token_is_confirmed_first(ui: Ui) -> None:
    admin = await ui.as_("admin")
    base = "/w/acme/repos/web/tokens"
    created = await admin.follow(
        await admin.post(base, {"name": "deploy", "scope": "read:package"})
    )
    secret = re.search(r"cha_([a-z0-9]{12})_", created.text)
    assert secret
    confirm = await admin.get(f"{base}/{secret[1]}/revoke")
    assert "Revoke token deploy?" in confirm.text
    reader = await ui.as_("reader")
    assert (await reader.get(f"{base}/{secret[1]}/revoke")).status_code == 403
    revoked = await admin.post(f"{base}/{secret[1]}/revoke")
    assert revoked.headers["location"] == f"{base}?revoked={secret[1]}"
    assert "Token deploy is revoked" in (await admin.get(revoked.headers["location"])).text


async def _active(ui: Ui, token_id: str) -> bool:
    rows = await ui.api.rows("SELECT revoked_at FROM tokens WHERE id = :i", i=token_id)
    return rows[0]["revoked_at"] is None


async def test_the_revoke_confirmation_in_japanese_has_no_english_left(ui: Ui) -> None:
    owner = await japanese(ui, "owner")
    created = await owner.follow(
        await owner.post("/settings/tokens", {"name": "ci", "scope": "read:package"})
    )
    secret = re.search(r"chp_([a-z0-9]{12})_", created.text)
    assert secret
    path = f"/settings/tokens/{secret[1]}/revoke"
    assert_all_japanese(await owner.get(path), path)
    page = await owner.get("/settings/tokens")
    mine = re.search(
        r'href="(/settings/tokens/[a-z0-9]{12}/revoke)"', page.text.split("sessions")[-1]
    )
    assert mine
    assert_all_japanese(await owner.get(mine[1]), mine[1])  # a session
    revoked = await owner.post(path)
    assert_all_japanese(await owner.get(revoked.headers["location"]), "after revoking")

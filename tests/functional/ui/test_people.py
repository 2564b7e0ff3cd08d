"""People (`/admin/people`): site admins create accounts and invite people by email. An
invitation is a link shown once to the admin, which sets the person's password once,
expires, and is stored as a hash only; nobody else may see or use the page."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from cargohold.services.accounts import directory, invitations
from tests.functional.api.people import PEOPLE as WORLD
from tests.functional.api.people import email
from tests.functional.ui.conftest import Ui, UiClient, set_password
from tests.functional.ui.test_japanese import english_patterns, visible_text
from tests.functional.ui.test_signin import sign_in

PEOPLE = "/admin/people"
NEW_PASSWORD = "a fresh long password"


async def invite(ui: Ui, who: str = "newbie", **extra: str) -> tuple[UiClient, str]:
    """Invite `who` as the site admin; the admin's client and the link's code."""
    admin = await ui.as_("site_admin")
    invited = await admin.post(PEOPLE, {"action": "invite", "email": email(who), **extra})
    assert invited.status_code == 303, invited.text
    page = await admin.follow(invited)
    found = re.search(r"http://registry\.test/invitation\?code=([a-z0-9]{12}_[\w-]{43})", page.text)
    assert found is not None, page.text
    return admin, found[1]


async def accept(
    ui: Ui, code: str, password: str = NEW_PASSWORD, confirm: str | None = None
) -> httpx.Response:
    visitor = await ui.as_(None)
    return await visitor.post(
        "/invitation",
        {"code": code, "password": password, "confirm": password if confirm is None else confirm},
    )


async def test_an_invited_person_sets_their_password_with_the_link_and_signs_in(ui: Ui) -> None:
    _, code = await invite(ui, name="New Person")
    form = await (await ui.as_(None)).get(f"/invitation?code={code}")
    assert form.status_code == 200 and email("newbie") in form.text
    accepted = await accept(ui, code)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/invitation?done=1"
    signed_in = await sign_in(ui, "newbie", NEW_PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/w/acme"
    user = await directory.find_user(ui.api.context.db, email("newbie"))
    assert user.display_name == "New Person" and not user.is_admin


async def test_an_invitation_link_works_once(ui: Ui) -> None:
    _, code = await invite(ui)
    assert (await accept(ui, code)).status_code == 303
    again = await accept(ui, code, "another long password")
    assert again.status_code == 404 and "no longer works" in again.text
    page = await (await ui.as_(None)).get(f"/invitation?code={code}")
    assert page.status_code == 404 and "no longer works" in page.text
    assert (await sign_in(ui, "newbie", "another long password")).status_code != 303


async def test_the_link_is_shown_once(ui: Ui) -> None:
    admin, code = await invite(ui)
    assert code not in (await admin.get(PEOPLE)).text


async def test_only_a_hash_of_the_link_is_stored(ui: Ui) -> None:
    _, code = await invite(ui)
    found_id, secret = code.split("_", 1)
    row = await ui.api.context.db.fetchone(
        "SELECT * FROM invitations WHERE id = :id", {"id": found_id}
    )
    assert row is not None
    assert secret not in [str(value) for value in dict(row).values()]
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()


async def test_an_expired_invitation_is_refused(ui: Ui) -> None:
    _, code = await invite(ui)
    await ui.api.context.db.execute(
        "UPDATE invitations SET expires_at = :t", {"t": ui.api.context.now() - 1}
    )
    assert (await accept(ui, code)).status_code == 404
    assert (await sign_in(ui, "newbie", NEW_PASSWORD)).status_code != 303


async def test_inviting_again_replaces_the_first_link(ui: Ui) -> None:
    _, first = await invite(ui)
    _, second = await invite(ui)
    assert (await accept(ui, first)).status_code == 404
    assert (await accept(ui, second)).status_code == 303


async def test_a_wrong_or_forged_code_is_not_found(ui: Ui) -> None:
    _, code = await invite(ui)
    forged = code[:13] + ("A" if code[13] != "A" else "B") + code[14:]
    assert (await accept(ui, forged)).status_code == 404
    for text in ("", "x", "../admin", "a" * 200):
        page = await (await ui.as_(None)).get("/invitation", params={"code": text})
        assert page.status_code == 404


async def test_a_refused_password_keeps_the_link_good(ui: Ui) -> None:
    _, code = await invite(ui)
    differ = await accept(ui, code, NEW_PASSWORD, "something else entirely")
    assert differ.status_code == 400 and "The two passwords differ." in differ.text
    short = await accept(ui, code, "short")
    assert short.status_code == 400 and "A password needs at least 8 characters." in short.text
    assert (await accept(ui, code)).status_code == 303


async def test_a_person_with_a_password_is_not_invited(ui: Ui) -> None:
    await set_password(ui, "reader")
    admin = await ui.as_("site_admin")
    refused = await admin.post(PEOPLE, {"action": "invite", "email": email("reader")})
    assert refused.status_code == 400 and "has an account with a password already" in refused.text


async def test_site_admins_create_an_account_with_a_password(ui: Ui) -> None:
    admin = await ui.as_("site_admin")
    created = await admin.post(
        PEOPLE,
        {"action": "create", "email": email("newbie"), "password": NEW_PASSWORD, "admin": "on"},
    )
    assert created.status_code == 303
    page = await admin.follow(created)
    assert f"The account of {email('newbie')} is created." in page.text
    assert (await sign_in(ui, "newbie", NEW_PASSWORD)).status_code == 303
    user = await directory.find_user(ui.api.context.db, email("newbie"))
    assert user.is_admin
    taken = await admin.post(PEOPLE, {"action": "create", "email": email("newbie")})
    assert taken.status_code == 400 and "has an account already" in taken.text
    assert f'value="{email("newbie")}"' in taken.text


async def test_the_list_says_how_each_person_signs_in(ui: Ui) -> None:
    admin, _ = await invite(ui)
    page = await admin.get(PEOPLE)
    row = re.search(rf"<tr>\s*<td>{re.escape(email('newbie'))}.*?</tr>", page.text, re.S)
    assert row is not None and "Invited, until" in row.group(0)


@pytest.mark.parametrize("who", ["owner", "member", "outsider"])
async def test_only_site_admins_manage_people(ui: Ui, who: str) -> None:
    client = await ui.as_(who)
    assert (await client.get(PEOPLE)).status_code == 403
    for action in ("create", "invite"):
        form = {"action": action, "email": email("newbie"), "password": NEW_PASSWORD}
        refused = await client.post(PEOPLE, form)
        assert refused.status_code == 403
    with pytest.raises(Exception, match="no user"):
        await directory.find_user(ui.api.context.db, email("newbie"))


async def test_visitors_are_sent_to_sign_in(ui: Ui) -> None:
    visitor = await ui.as_(None)
    page = await visitor.get(PEOPLE)
    assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")


async def test_people_forms_need_their_csrf_token(ui: Ui) -> None:
    admin = await ui.as_("site_admin")
    refused = await admin.post(PEOPLE, {"action": "invite", "email": email("newbie")}, csrf=False)
    assert refused.status_code == 403
    _, code = await invite(ui)
    visitor = await ui.as_(None)
    forged = await visitor.post(
        "/invitation",
        {"code": code, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        csrf=False,
    )
    assert forged.status_code == 403
    assert (await accept(ui, code)).status_code == 303


async def test_the_people_and_invitation_pages_in_japanese_have_no_english_left(ui: Ui) -> None:
    admin, code = await invite(ui)
    admin.language = "ja"
    visitor = await ui.as_(None)
    visitor.language = "ja"
    messages = english_patterns()
    names = {who.replace("_", "-") for who in WORLD}  # display names: data, not English
    for client, path in ((admin, PEOPLE), (visitor, f"/invitation?code={code}")):
        page = await client.get(path)
        assert page.status_code == 200
        for text in visible_text(page.text):
            if text in names:
                continue
            untranslated = [p.pattern for p in messages if p.fullmatch(text)]
            assert not untranslated, f"untranslated {text!r} on {path}: {untranslated}"


def test_an_invitation_lives_a_week() -> None:
    assert invitations.LIFETIME == 7 * 86400

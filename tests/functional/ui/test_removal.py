"""Removing a member of a workspace is confirmed first: who goes and what they lose; the
confirmation posts to the members page, which says it is done."""

from __future__ import annotations

from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_messages import assert_all_japanese, japanese

CONFIRM = "/w/acme/members/remove?email=member%40example.com"


async def test_the_members_page_links_to_a_confirmation_not_a_removal(ui: Ui) -> None:
    page = await (await ui.as_("owner")).get("/w/acme/members")
    assert f'href="{CONFIRM}"' in page.text
    assert 'value="remove_member"' not in page.text  # no button that removes at once


async def test_removing_a_member_is_confirmed_first_and_said_after(ui: Ui) -> None:
    owner = await ui.as_("owner")
    confirm = await owner.get(CONFIRM)
    assert confirm.status_code == 200
    assert "Remove member@example.com from acme?" in confirm.text
    assert 'value="remove_member"' in confirm.text and 'value="member@example.com"' in confirm.text
    assert "member@example.com" in (await owner.get("/w/acme/members")).text  # still there
    removed = await owner.post(
        "/w/acme/members", {"action": "remove_member", "email": "member@example.com"}
    )
    assert removed.status_code == 303
    after = await owner.get(removed.headers["location"])
    assert "The member is removed." in after.text
    assert "member@example.com" not in after.text
    assert (await owner.get(CONFIRM)).status_code == 404  # no longer a member


async def test_the_last_owner_is_told_before_anything_is_posted(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.get("/w/acme/members/remove?email=owner%40example.com")
    assert page.status_code == 200
    assert "acme needs at least one owner" in page.text
    assert 'value="remove_member"' not in page.text


async def test_only_owners_see_the_confirmation(ui: Ui) -> None:
    assert (await (await ui.as_("member")).get(CONFIRM)).status_code == 403
    assert (await (await ui.as_("outsider")).get(CONFIRM)).status_code == 404
    assert (await ui.anonymous().get(CONFIRM)).status_code == 303  # to sign in


async def test_the_confirmation_in_japanese_has_no_english_left(ui: Ui) -> None:
    owner = await japanese(ui, "owner")
    assert_all_japanese(await owner.get(CONFIRM), CONFIRM)
    last = "/w/acme/members/remove?email=owner%40example.com"
    assert_all_japanese(await owner.get(last), last)

"""The trust policies page of a workspace: owners list, create and delete the policies that
let CI pipelines log in with an OpenID Connect ID token."""

from __future__ import annotations

import re

from cargohold.services.accounts import oidc_policies
from tests.functional.ui.conftest import Ui

PAGE = "/w/acme/oidc"
FORM = {
    "issuer": "https://token.actions.githubusercontent.com",
    "audience": "https://registry.example.com",
    "claims": "repository=acme/web\r\nref=refs/heads/*\r\n",
    "target": "web",
    "role": "write",
    "lifetime": "30m",
}


async def test_owners_find_the_trust_policies_from_their_workspace(ui: Ui) -> None:
    owner = await ui.as_("owner")
    assert f'href="{PAGE}"' in (await owner.get("/w/acme")).text
    member = await ui.as_("member")
    assert f'href="{PAGE}"' not in (await member.get("/w/acme")).text


async def test_an_owner_creates_a_policy_and_sees_it_listed(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(PAGE, FORM)
    assert created.status_code == 303, created.text
    policy_id = created.headers["location"].rpartition("=")[2]
    page = await owner.get(created.headers["location"])
    assert page.status_code == 200
    assert f"<code>{policy_id}</code>" in page.text
    assert "<code>ref=refs/heads/*</code>" in page.text
    assert "Write on repository web" in page.text
    assert "30 min" in page.text
    found = await oidc_policies.get_policy(ui.api.context.db, policy_id)
    assert (found.repository, found.lifetime, found.claims) == (
        "web",
        1800,
        {"repository": "acme/web", "ref": "refs/heads/*"},
    )


async def test_a_policy_for_every_repository_of_the_workspace(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(PAGE, {**FORM, "target": "", "role": "read"})
    page = await owner.get(created.headers["location"])
    assert "Read on every repository" in page.text


async def test_a_policy_that_cannot_be_used_is_shown_with_the_reason_and_the_form_kept(
    ui: Ui,
) -> None:
    owner = await ui.as_("owner")
    page = await owner.post(PAGE, {**FORM, "issuer": "http://token.example.com"})
    assert page.status_code == 400
    assert "http:// is not allowed here" in page.text
    assert 'value="http://token.example.com"' in page.text


async def test_conditions_must_be_name_equals_value(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.post(PAGE, {**FORM, "claims": "repository acme/web"})
    assert page.status_code == 400
    assert "NAME=VALUE" in page.text


async def test_an_owner_deletes_a_policy(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(PAGE, FORM)
    policy_id = created.headers["location"].rpartition("=")[2]
    deleted = await owner.post(f"{PAGE}/{policy_id}/delete")
    assert (deleted.status_code, deleted.headers["location"]) == (303, PAGE)
    assert policy_id not in (await owner.get(PAGE)).text


async def test_deleting_needs_the_forms_csrf_token(ui: Ui) -> None:
    owner = await ui.as_("owner")
    created = await owner.post(PAGE, FORM)
    policy_id = created.headers["location"].rpartition("=")[2]
    refused = await owner.post(f"{PAGE}/{policy_id}/delete", csrf=False)
    assert refused.status_code == 403
    assert policy_id in (await owner.get(PAGE)).text


async def test_members_may_not_see_the_trust_policies(ui: Ui) -> None:
    member = await ui.as_("member")
    assert (await member.get(PAGE)).status_code == 403
    assert (await member.post(PAGE, FORM)).status_code == 403


async def test_people_outside_the_workspace_see_nothing_there(ui: Ui) -> None:
    other = await ui.as_("other")
    assert (await other.get(PAGE)).status_code == 404


async def test_a_visitor_is_sent_to_sign_in(ui: Ui) -> None:
    page = await ui.anonymous().get(PAGE)
    assert page.status_code == 303
    assert re.match(r"/sign-in\?next=", page.headers["location"])

"""The members page: one grant form (a person and a project or repository, picked from
lists) whatever the number of repositories, every grant of the workspace in one table,
and roles named the same way everywhere, each with what it allows."""

from __future__ import annotations

import re

from cargohold.services.accounts import directory
from tests.functional.api.people import email
from tests.functional.ui.conftest import Ui

MEMBERS = "/w/acme/members"


async def test_one_grant_form_whatever_the_number_of_repositories(ui: Ui) -> None:
    ctx = ui.api.context
    for n in range(5):
        await directory.create_repository(
            ctx.db, full_name=f"acme/extra-{n}", project_key="PLAT", now=ctx.now()
        )
    page = await (await ui.as_("owner")).get(MEMBERS)
    assert page.status_code == 200
    assert page.text.count('value="grant"') == 1
    picker = page.text[page.text.index('id="grant-target"') :].split("</select>")[0]
    assert 'value="project:PLAT"' in picker and 'value="project:WWW"' in picker
    for slug in ("web", "site", "extra-0", "extra-4"):
        assert f'value="repository:{slug}"' in picker
    people = page.text[page.text.index('<datalist id="people">') :].split("</datalist>")[0]
    assert f'value="{email("member")}"' in people


async def test_a_role_granted_through_the_picker_applies_and_is_listed(ui: Ui) -> None:
    owner = await ui.as_("owner")
    assert (await (await ui.as_("outsider")).get("/p/acme/web/api")).status_code == 404
    granted = await owner.post(
        MEMBERS,
        {"action": "grant", "email": email("outsider"), "target": "project:PLAT", "role": "write"},
    )
    assert granted.status_code == 303
    page = await owner.follow(granted)
    assert "The role is granted." in page.text
    row = re.search(rf"<tr>\s*<td>{re.escape(email('outsider'))}</td>.*?</tr>", page.text, re.S)
    assert row is not None and "PLAT" in row.group(0) and "Write" in row.group(0)
    assert (await (await ui.as_("outsider")).get("/p/acme/web/api")).status_code == 200
    revoked = await owner.post(
        MEMBERS, {"action": "revoke", "email": email("outsider"), "target": "project:PLAT"}
    )
    assert revoked.status_code == 303
    assert (await (await ui.as_("outsider")).get("/p/acme/web/api")).status_code == 404


async def test_the_grants_of_the_workspace_are_listed_in_one_table(ui: Ui) -> None:
    page = await (await ui.as_("owner")).get(MEMBERS)
    table = page.text[page.text.index('class="stack grants"') :].split("</table>")[0]
    assert email("reader") in table and email("writer") in table and email("admin") in table
    assert "/w/acme/repos/web" in table and "/w/acme/projects/PLAT" in table


async def test_a_grant_without_a_target_is_refused_on_the_form(ui: Ui) -> None:
    owner = await ui.as_("owner")
    refused = await owner.post(
        MEMBERS, {"action": "grant", "email": email("outsider"), "target": "", "role": "read"}
    )
    assert refused.status_code == 400
    assert "Choose a project or a repository." in refused.text
    assert f'value="{email("outsider")}"' in refused.text  # what was typed stays
    unknown = await owner.post(
        MEMBERS,
        {
            "action": "grant",
            "email": email("outsider"),
            "target": "repository:nope",
            "role": "read",
        },
    )
    assert unknown.status_code == 400


async def test_roles_are_capitalised_and_say_what_they_allow(ui: Ui) -> None:
    page = await (await ui.as_("owner")).get(MEMBERS)
    for role in ("Read", "Write", "Admin", "Owner", "Member"):
        assert f"<dt>{role}</dt>" in page.text
    assert "Pull images." in page.text
    assert ">read<" not in page.text and ">write<" not in page.text
    ja = await ui.as_("owner")
    ja.language = "ja"
    assert "<dt>読み取り</dt>" in (await ja.get(MEMBERS)).text


async def test_the_package_page_names_your_role_the_same_way(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    page = await (await ui.as_("writer")).get("/p/acme/web/api")
    assert re.search(r"<dd>Write</dd>", page.text)

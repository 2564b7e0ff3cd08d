"""A package's settings page, for its admins only: a retention policy with a preview of
exactly what it deletes before it is saved (and a confirmation when it deletes every
tag), protected tag patterns, and deleting the package; all in English and Japanese."""

from __future__ import annotations

import re

import pytest

from tests.functional.api.images import Lifecycle, age, build_lifecycle
from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_japanese import english_messages, visible_text
from tests.functional.ui.test_messages import assert_all_japanese, japanese

NAME = "acme/web/api"
SETTINGS = f"/p/{NAME}/-/settings"


async def policy_of(ui: Ui) -> dict[str, object] | None:
    response = await ui.api.get(f"/packages/{NAME}/-/retention", "owner")
    return response.json() if response.status_code == 200 else None


async def tags_left(ui: Ui) -> set[str]:
    response = await ui.api.get(f"/packages/{NAME}/-/tags", "owner", params={"limit": 1000})
    return {tag["name"] for tag in response.json()["items"]}


@pytest.fixture
async def world(ui: Ui) -> Lifecycle:
    return await build_lifecycle(ui.api, NAME)


async def test_admins_see_a_link_to_the_settings(ui: Ui) -> None:
    await ui.api.push(NAME, "v1")
    page = await (await ui.as_("admin")).get(f"/p/{NAME}")
    assert f'href="{SETTINGS}"' in page.text
    settings = await (await ui.as_("admin")).get(SETTINGS)
    assert settings.status_code == 200
    assert "Retention policy" in settings.text and "Tag protection" in settings.text


@pytest.mark.parametrize("who", ["reader", "writer"])
async def test_others_see_no_link_and_are_refused(ui: Ui, who: str) -> None:
    await ui.api.push(NAME, "v1")
    client = await ui.as_(who)
    assert "/-/settings" not in (await client.get(f"/p/{NAME}")).text
    assert (await client.get(SETTINGS)).status_code == 403
    for form in (
        {"action": "save", "keep_newest": "1"},
        {"action": "protection", "patterns": "v*"},
        {"action": "preview", "keep_newest": "1"},
    ):
        assert (await client.post(SETTINGS, form)).status_code == 403
    assert (await client.get(f"{SETTINGS}/delete")).status_code == 403
    assert (await client.post(f"{SETTINGS}/delete")).status_code == 403
    assert await policy_of(ui) is None


async def test_those_who_may_not_read_get_not_found(ui: Ui) -> None:
    client = await ui.as_("member")
    assert (await client.get(SETTINGS)).status_code == 404
    assert (await client.post(SETTINGS, {"action": "save", "keep_newest": "1"})).status_code == 404


async def test_forms_need_their_csrf_token(ui: Ui) -> None:
    admin = await ui.as_("admin")
    form = {"action": "save", "keep_newest": "1"}
    assert (await admin.post(SETTINGS, form, csrf=False)).status_code == 403
    assert (await admin.post(f"{SETTINGS}/delete", csrf=False)).status_code == 403
    assert await policy_of(ui) is None


async def test_preview_lists_exactly_what_the_policy_deletes_before_it_is_saved(
    ui: Ui, world: Lifecycle
) -> None:
    assert world.orphan is not None
    admin = await ui.as_("admin")
    form = {"action": "preview", "keep_newest": "5", "keep_pattern": "v*", "untagged_days": "30"}
    page = await admin.post(SETTINGS, form)
    assert page.status_code == 200
    expected = await ui.api.post(
        f"/packages/{NAME}/-/retention/preview",
        "admin",
        json={"keep_newest": 5, "keep_pattern": "v*", "untagged_days": 30},
    )
    for tag in expected.json()["tags"]:
        assert f"<td>{tag['name']}</td>" in page.text
    for manifest in expected.json()["manifests"]:
        assert manifest["digest"][:19] in page.text
    assert "platform of a deleted index" in page.text
    assert "referrer of a deleted image" in page.text
    assert 'value="5"' in page.text and 'value="v*"' in page.text  # the form keeps its values
    assert await policy_of(ui) is None  # nothing saved
    assert len(await tags_left(ui)) == 15  # nothing deleted


async def test_the_preview_answers_htmx_with_the_list_alone(ui: Ui, world: Lifecycle) -> None:
    admin = await ui.as_("admin")
    page = await admin.post(SETTINGS, {"keep_newest": "14"}, headers={"HX-Request": "true"})
    assert page.status_code == 200
    assert 'id="preview"' in page.text and "<td>v1.0</td>" in page.text
    refused = await admin.post(SETTINGS, {"keep_pattern": "v*"}, headers={"HX-Request": "true"})
    assert refused.status_code == 200  # htmx swaps only successes
    preview = refused.text[refused.text.index('id="preview"') :]
    assert "patterns of tags to keep alone delete nothing" in preview.split("</div>")[0]


async def test_saving_a_policy(ui: Ui, world: Lifecycle) -> None:
    admin = await ui.as_("admin")
    form = {"action": "save", "keep_newest": "5", "keep_pattern": "v*, multi", "tag_days": "3"}
    saved = await admin.post(SETTINGS, form)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{SETTINGS}?done=retention"
    assert await policy_of(ui) == {
        "keep_newest": 5,
        "keep_pattern": "v*,multi",
        "untagged_days": None,
        "tag_days": 3,
        "updated_at": (await policy_of(ui) or {})["updated_at"],
        "updated_by": "admin@example.com",
    }
    page = await admin.get(saved.headers["location"])
    assert "The retention policy is saved." in page.text
    assert 'value="v*, multi"' in page.text
    assert len(await tags_left(ui)) == 15  # saving deletes nothing


async def test_applying_the_saved_policy_shows_what_it_deletes_first_and_says_what_it_did(
    ui: Ui, world: Lifecycle
) -> None:
    admin = await ui.as_("admin")
    await admin.post(SETTINGS, {"action": "save", "keep_newest": "12", "keep_pattern": "v*"})
    settings = await admin.get(SETTINGS)
    assert f'href="{SETTINGS}/apply"' in settings.text
    assert 'value="run"' not in settings.text  # no button that deletes at once
    confirm = await admin.get(f"{SETTINGS}/apply")
    assert confirm.status_code == 200
    assert "<td>multi</td>" in confirm.text and 'value="run"' in confirm.text
    assert "multi" in await tags_left(ui)  # asking deletes nothing
    ran = await admin.post(SETTINGS, {"action": "run"})
    assert ran.status_code == 303  # post/redirect/get: a reload applies nothing twice
    assert ran.headers["location"].startswith(f"{SETTINGS}?done=applied&tags=")
    said = await admin.get(ran.headers["location"])
    assert re.search(r"it deleted [1-9]\d* tags and \d+ image versions", said.text)
    assert "multi" not in await tags_left(ui)


async def test_applying_needs_a_saved_policy_and_admin(ui: Ui, world: Lifecycle) -> None:
    admin = await ui.as_("admin")
    assert (await admin.get(f"{SETTINGS}/apply")).status_code == 404  # no policy yet
    await admin.post(SETTINGS, {"action": "save", "keep_newest": "12"})
    assert (await (await ui.as_("writer")).get(f"{SETTINGS}/apply")).status_code == 403
    assert (await (await ui.as_("member")).get(f"{SETTINGS}/apply")).status_code == 404


async def test_a_policy_that_deletes_every_tag_asks_for_confirmation(
    ui: Ui, world: Lifecycle
) -> None:
    await age(ui.api, NAME, 2, tag="build-12")
    admin = await ui.as_("admin")
    preview = await admin.post(SETTINGS, {"action": "preview", "tag_days": "1"})
    assert "This policy deletes every tag of the package." in preview.text
    assert 'name="confirm_delete_all_tags"' in preview.text
    refused = await admin.post(SETTINGS, {"action": "save", "tag_days": "1"})
    assert refused.status_code == 409
    assert 'name="confirm_delete_all_tags"' in refused.text
    assert "tick the box" in refused.text
    assert await policy_of(ui) is None
    confirmed = await admin.post(
        SETTINGS, {"action": "save", "tag_days": "1", "confirm_delete_all_tags": "yes"}
    )
    assert confirmed.status_code == 303
    assert (await policy_of(ui) or {})["tag_days"] == 1


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"keep_pattern": "v*"}, "patterns of tags to keep alone delete nothing"),
        ({}, "A retention policy needs the newest tags to keep"),
        ({"keep_newest": "many"}, "Keep the newest tags must be a whole number"),
        ({"tag_days": "-1"}, "Delete tags older than (days) must be a whole number"),
        (
            {"untagged_days": "0"},
            "Delete untagged images older than (days) must be a whole number from 1 to 36500",
        ),
        ({"keep_newest": "3", "keep_pattern": "v[0-9]"}, "&#39;v[0-9]&#39;"),
    ],
)
async def test_invalid_policies_are_refused_with_a_message(
    ui: Ui, form: dict[str, str], said: str
) -> None:
    admin = await ui.as_("admin")
    for action in ("preview", "save"):
        page = await admin.post(SETTINGS, {"action": action, **form})
        assert page.status_code == 400
        assert said in page.text, page.text
    assert await policy_of(ui) is None


async def test_removing_the_policy(ui: Ui) -> None:
    admin = await ui.as_("admin")
    await admin.post(SETTINGS, {"action": "save", "untagged_days": "7"})
    removed = await admin.post(SETTINGS, {"action": "remove_policy"})
    assert removed.status_code == 303
    assert await policy_of(ui) is None
    assert "The retention policy is removed." in (await admin.get(removed.headers["location"])).text


async def test_protecting_tags(ui: Ui) -> None:
    admin = await ui.as_("admin")
    saved = await admin.post(SETTINGS, {"action": "protection", "patterns": "v*, release-*"})
    assert saved.status_code == 303
    rules = await ui.api.get(f"/packages/{NAME}/-/protection", "reader")
    assert rules.json() == {"patterns": ["release-*", "v*"]}
    page = await admin.get(SETTINGS)
    assert 'value="release-*, v*"' in page.text
    cleared = await admin.post(SETTINGS, {"action": "protection", "patterns": " "})
    assert cleared.status_code == 303
    assert (await ui.api.get(f"/packages/{NAME}/-/protection", "reader")).json() == {"patterns": []}


async def test_an_invalid_protection_pattern_is_refused(ui: Ui) -> None:
    admin = await ui.as_("admin")
    page = await admin.post(SETTINGS, {"action": "protection", "patterns": "v*, a/b"})
    assert page.status_code == 400
    assert "&#39;a/b&#39;" in page.text
    assert 'value="v*, a/b"' in page.text
    assert (await ui.api.get(f"/packages/{NAME}/-/protection", "reader")).json() == {"patterns": []}


async def test_a_writer_may_not_delete_a_protected_tag_in_the_ui(ui: Ui) -> None:
    await ui.api.push(NAME, "v1")
    await (await ui.as_("admin")).post(SETTINGS, {"action": "protection", "patterns": "v*"})
    refused = await (await ui.as_("writer")).post(f"/p/{NAME}/-/tags/v1/delete")
    assert refused.status_code == 403
    assert "protected by the rule" in refused.text
    assert "v1" in await tags_left(ui)


async def test_writers_see_no_delete_link_on_a_protected_tag(ui: Ui) -> None:
    await ui.api.push(NAME, "v1")
    await ui.api.push(NAME, "dev")
    await (await ui.as_("admin")).post(SETTINGS, {"action": "protection", "patterns": "v*"})
    writer, admin = await ui.as_("writer"), await ui.as_("admin")
    listing = (await writer.get(f"/p/{NAME}")).text
    assert f"/p/{NAME}/-/tags/dev/delete" in listing
    assert f"/p/{NAME}/-/tags/v1/delete" not in listing
    assert f"/p/{NAME}/-/tags/v1/delete" not in (await writer.get(f"/p/{NAME}/-/tags/v1")).text
    assert f"/p/{NAME}/-/tags/v1/delete" in (await admin.get(f"/p/{NAME}")).text
    assert f"/p/{NAME}/-/tags/v1/delete" in (await admin.get(f"/p/{NAME}/-/tags/v1")).text


async def test_deleting_the_package_after_a_confirmation(ui: Ui) -> None:
    await ui.api.push(NAME, "v1")
    admin = await ui.as_("admin")
    confirm = await admin.get(f"{SETTINGS}/delete")
    assert confirm.status_code == 200
    assert f"Delete package {NAME}?" in confirm.text
    deleted = await admin.post(f"{SETTINGS}/delete")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/w/acme"
    assert (await admin.get(f"/p/{NAME}")).status_code == 404


async def test_the_settings_pages_in_japanese_have_no_english_left(
    ui: Ui, world: Lifecycle
) -> None:
    await age(ui.api, NAME, 2, tag="build-12")
    owner = await ui.as_("owner")
    owner.language = "ja"
    await owner.post(SETTINGS, {"action": "save", "untagged_days": "30", "keep_newest": "3"})
    messages = [m for m in english_messages() if re.search(r"[A-Za-z]{3}", m)]
    data = re.compile(
        r"^(Cargohold|English|日本語|acme[\w/.-]*|[\w.-]+@example\.com|v\*|[\w.*?-]+(, [\w.*?-]+)*"
        r"|web/api|sha256:\w+…?|\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC|—|\d+|/|·|\(|\)|,|:)$"
    )
    pages = [
        (SETTINGS, None),
        (SETTINGS, {"action": "preview", "tag_days": "1", "untagged_days": "1"}),
        (f"{SETTINGS}/apply", None),
        (SETTINGS, {"action": "save", "keep_pattern": "v*"}),
        (f"{SETTINGS}/delete", None),
    ]
    for path, form in pages:
        page = await (owner.get(path) if form is None else owner.post(path, form))
        assert page.status_code in (200, 400), (path, form)
        assert '<html lang="ja">' in page.text
        for text in visible_text(page.text):
            assert text not in messages, f"untranslated {text!r} on {path} {form}"
            if re.fullmatch(r"[\x00-\x7f]+", text) and re.search(r"[A-Za-z]{2}", text):
                if form == {"action": "save", "keep_pattern": "v*"} and "keep pattern" in text:
                    continue  # the service's message (the API's words)
                assert data.match(text), f"English-looking text {text!r} on {path} {form}"


async def test_the_apply_confirmation_in_japanese_has_no_english_left(
    ui: Ui, world: Lifecycle
) -> None:
    owner = await japanese(ui, "owner")
    await owner.post(SETTINGS, {"action": "save", "keep_newest": "3", "untagged_days": "30"})
    assert_all_japanese(await owner.get(f"{SETTINGS}/apply"), "apply")
    ran = await owner.post(SETTINGS, {"action": "run"})
    page = await owner.get(ran.headers["location"])
    assert "保持ポリシーを適用しました" in page.text

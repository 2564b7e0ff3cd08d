"""Deleting an image version in the UI: a platform image of a multi-arch image is not
deleted alone, and the confirmation names the multi-arch image that holds it."""

from __future__ import annotations

from tests.functional.ui.conftest import Ui, push_multi_arch


async def test_the_confirmation_for_a_platform_image_lists_the_index_and_its_tags(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    admin = await ui.as_("admin")

    confirm = await admin.get(f"/p/acme/web/api/-/manifests/{pushed.children[0]}/delete")

    assert confirm.status_code == 200
    assert "(no tags)" not in confirm.text
    assert f"/p/acme/web/api/-/manifests/{pushed.index}/delete" in confirm.text
    assert "<code>v2</code>" in confirm.text
    assert f'action="/p/acme/web/api/-/manifests/{pushed.children[0]}/delete"' not in confirm.text


async def test_deleting_a_platform_image_is_refused_409_naming_the_index(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    owner = await ui.as_("owner")
    protected = await ui.api.put(
        "/packages/acme/web/api/-/protection", "owner", json={"patterns": ["v*"]}
    )
    assert protected.status_code == 200

    refused = await owner.post(f"/p/acme/web/api/-/manifests/{pushed.children[0]}/delete")

    assert refused.status_code == 409
    assert pushed.index in refused.text and "v2" in refused.text
    tag = await owner.get("/p/acme/web/api/-/tags/v2")
    assert f"/p/acme/web/api/-/manifests/{pushed.children[0]}" in tag.text
    child = await owner.get(f"/p/acme/web/api/-/manifests/{pushed.children[0]}")
    assert child.status_code == 200


async def test_the_confirmation_in_japanese_has_no_english_left(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    admin = await ui.as_("admin")
    admin.language = "ja"

    confirm = await admin.get(f"/p/acme/web/api/-/manifests/{pushed.children[0]}/delete")

    assert "マルチアーキテクチャイメージ" in confirm.text
    assert "multi-arch" not in confirm.text

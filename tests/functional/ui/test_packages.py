"""The package pages: lists narrowed to a workspace, project or repository; a package's
tags, platforms and storage; a tag's layers, config, annotations and referrers."""

from __future__ import annotations

import re

from cargohold.services.lifecycle import gc
from tests.functional.api.people import email
from tests.functional.ui.conftest import Ui, push_multi_arch
from tests.functional.ui.test_messages import assert_all_japanese, japanese


async def test_workspace_project_and_repository_pages_list_the_package(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    owner = await ui.as_("owner")
    for path in ("/w/acme", "/w/acme/projects/PLAT", "/w/acme/repos/web"):
        page = await owner.get(path)
        assert page.status_code == 200, path
        assert 'href="/p/acme/web/api"' in page.text
        assert "acme/web" in page.text and "PLAT" in page.text
    narrowed = await owner.get("/w/acme/projects/WWW")
    assert "acme/site/www" in narrowed.text and "acme/web/api" not in narrowed.text


async def test_package_page_says_who_pushed_each_tag(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    page = await (await ui.as_("reader")).get("/p/acme/web/api")
    assert page.status_code == 200
    assert f"by {email('owner')}" in page.text
    assert "pusher not recorded" not in page.text


async def test_search_and_sort(ui: Ui) -> None:
    await ui.api.push("acme/web/db", "v1")
    owner = await ui.as_("owner")
    found = await owner.get("/w/acme", params={"q": "db"})
    assert "acme/web/db" in found.text and "acme/web/api" not in found.text
    by_size = await owner.get("/w/acme", params={"sort": "size"})
    assert by_size.text.index("acme/web/db") < by_size.text.index("acme/web/api")
    by_push = await owner.get("/w/acme", params={"sort": "pushed"})
    assert by_push.text.index("acme/web/db") < by_push.text.index("acme/site/www")


async def test_package_page_shows_tags_platforms_storage_and_pull_command(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    page = await (await ui.as_("reader")).get("/p/acme/web/api")
    assert page.status_code == 200
    text = page.text
    assert 'href="/p/acme/web/api/-/tags/v2"' in text
    assert "linux/amd64, linux/arm64" in text
    assert "docker pull registry.test/acme/web/api:v2" in text
    assert pushed.index[:19] in text
    assert "Total storage" in text


async def test_tag_page_shows_platforms_and_referrers(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    page = await (await ui.as_("reader")).get("/p/acme/web/api/-/tags/v2")
    assert page.status_code == 200
    assert pushed.index in page.text
    assert "application/vnd.oci.image.index.v1+json" in page.text
    for child in pushed.children:
        assert f"/p/acme/web/api/-/manifests/{child}" in page.text
    assert "Signatures" in page.text
    assert f"/p/acme/web/api/-/manifests/{pushed.signature}" in page.text


async def test_image_page_shows_layers_config_and_escapes_markup(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    page = await (await ui.as_("reader")).get(f"/p/acme/web/api/-/manifests/{pushed.children[0]}")
    assert page.status_code == 200
    text = page.text
    for layer in pushed.layers:
        assert layer[:19] in text
    assert "linux/amd64" in text and "8080/tcp" in text and "/bin/app" in text
    assert "COPY app /bin/app" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt;" in text


async def test_untagged_versions_are_listed(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    owner = await ui.as_("owner")
    deleted = await owner.post("/p/acme/web/api/-/tags/v2/delete")
    assert deleted.status_code == 303
    page = await owner.get("/p/acme/web/api")
    assert f"/p/acme/web/api/-/manifests/{pushed.index}" in page.text
    assert pushed.children[0] not in page.text  # a child of an index is not listed alone


async def test_create_package_offers_only_admin_repositories_and_shows_commands(ui: Ui) -> None:
    admin = await ui.as_("admin")
    form = await admin.get("/new-package")
    assert 'value="acme/web"' in form.text and 'value="acme/site"' not in form.text
    created = await admin.follow(
        await admin.post("/new-package", {"repository": "acme/web", "name": "web/worker"})
    )
    assert created.status_code == 200, created.text
    for command in (
        "docker login registry.test --username admin@example.com",
        "docker build --tag registry.test/acme/web/worker:latest .",
        "docker push registry.test/acme/web/worker:latest",
    ):
        assert command in created.text
    listed = await admin.get("/w/acme/repos/web")
    assert "acme/web/worker" in listed.text


async def test_create_package_in_a_repository_one_is_not_admin_of_is_refused(ui: Ui) -> None:
    writer = await ui.as_("writer")
    form = await writer.get("/new-package")
    assert "acme/web" not in form.text.split("<main", 1)[1]
    refused = await writer.post("/new-package", {"repository": "acme/web", "name": "sneaky"})
    assert refused.status_code in (400, 403)
    assert (await ui.api.get("/packages/acme/sneaky", "owner")).status_code == 404


async def test_the_create_package_link_shows_only_to_admins_of_a_repository(ui: Ui) -> None:
    for who in ("owner", "admin", "site_admin"):
        page = await (await ui.as_(who)).get("/w/acme/repos/web")
        assert 'href="/new-package"' in page.text, who
    for who in ("reader", "writer", "member", "outsider"):
        page = await (await ui.as_(who)).get("/")
        assert 'href="/new-package"' not in page.text, who


async def test_protected_tags_carry_a_lock_with_the_rule_that_protects_them(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    await ui.api.push("acme/web/api", "dev")
    protected = await ui.api.put(
        "/packages/acme/web/api/-/protection", "owner", json={"patterns": ["release-*", "v*"]}
    )
    assert protected.status_code == 200
    reader = await ui.as_("reader")
    page = await reader.get("/p/acme/web/api")
    row = page.text[page.text.index('href="/p/acme/web/api/-/tags/v1"') :].split("</tr>")[0]
    assert 'class="badge protected"' in row and "<code>v*</code>" in row
    assert "Protected by the rule v*: only package admins may move or delete this tag." in row
    other = page.text[page.text.index('href="/p/acme/web/api/-/tags/dev"') :].split("</tr>")[0]
    assert "protected" not in other
    tag_page = await reader.get("/p/acme/web/api/-/tags/v1")
    assert 'class="badge protected"' in tag_page.text and "<code>v*</code>" in tag_page.text


async def test_the_package_page_names_its_retention_policy_and_when_it_last_ran(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    reader = await ui.as_("reader")
    assert "This package has no retention policy yet." in (await reader.get("/p/acme/web/api")).text
    saved = await ui.api.put(
        "/packages/acme/web/api/-/retention",
        "owner",
        json={"keep_newest": 10, "keep_pattern": "v*", "untagged_days": 7},
    )
    assert saved.status_code == 200, saved.text
    page = await reader.get("/p/acme/web/api")
    assert (
        "keeps the newest 10 tags; keeps tags matching v*; deletes untagged images older than"
        " 7 days" in page.text
    )
    assert "Not run since it was saved" in page.text
    await gc.collect(ui.api.context, grace=0)
    page = await reader.get("/p/acme/web/api")
    assert re.search(r"Last ran <time datetime=\"[^\"]+\" title=\"[^\"]+\">", page.text)


async def test_a_policy_applied_by_hand_counts_as_its_last_run(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    saved = await ui.api.put(
        "/packages/acme/web/api/-/retention", "owner", json={"keep_newest": 10}
    )
    assert saved.status_code == 200, saved.text
    await gc.collect(ui.api.context, grace=0)
    reader = await ui.as_("reader")
    assert "with a garbage collection" in (await reader.get("/p/acme/web/api")).text
    # a run by hand after the collection is the later one, though it deletes nothing
    owner = await ui.as_("owner")
    ran = await owner.post("/p/acme/web/api/-/settings", {"action": "run"})
    assert ran.status_code == 303, ran.text
    page = await reader.get("/p/acme/web/api")
    assert re.search(
        r"Last ran <time datetime=\"[^\"]+\" title=\"[^\"]+\">[^<]*</time>, applied by hand",
        page.text,
    )
    log = await ui.api.get("/workspaces/acme/audit?action=retention", "owner")
    assert [e["action"] for e in log.json()["items"]][:1] == ["retention.applied"]
    # the API's run counts the same way, and a collection after it is the later again
    await gc.collect(ui.api.context, grace=0)
    assert "with a garbage collection" in (await reader.get("/p/acme/web/api")).text
    run = await ui.api.post("/packages/acme/web/api/-/retention/run", "owner")
    assert run.status_code == 200, run.text
    assert "applied by hand" in (await reader.get("/p/acme/web/api")).text


async def test_the_state_of_a_package_in_japanese_has_no_english_left(ui: Ui) -> None:
    await ui.api.push("acme/web/api", "v1")
    await ui.api.put("/packages/acme/web/api/-/protection", "owner", json={"patterns": ["v*"]})
    await ui.api.put(
        "/packages/acme/web/api/-/retention",
        "owner",
        json={"keep_newest": 10, "keep_pattern": "v*", "tag_days": 30, "untagged_days": 7},
    )
    owner = await japanese(ui, "owner")
    for path in ("/p/acme/web/api", "/p/acme/web/api/-/tags/v1", "/w/acme/usage"):
        assert_all_japanese(await owner.get(path), path)
    await gc.collect(ui.api.context, grace=0)
    package = await owner.get("/p/acme/web/api")
    assert_all_japanese(package, "/p/acme/web/api after a collection")
    assert "最後の実行" in package.text
    assert_all_japanese(await owner.get("/w/acme/usage"), "/w/acme/usage after a collection")

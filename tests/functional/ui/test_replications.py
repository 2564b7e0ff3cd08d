"""The replication pages: a workspace's owners add a rule (its password never shown again),
see its status and its jobs with state, attempts and error, try a failed job again, change
and delete it; a package's admins do the same for their package; nobody else sees them."""

from __future__ import annotations

import re

import pytest

from cargohold.services.registry.replication.replicator import Replicator
from cargohold.services.registry.replication.rules import sealing_key
from tests.functional.ui.conftest import Ui
from tests.functional.ui.test_japanese import english_patterns, visible_text

pytestmark = pytest.mark.settings(
    replication_allowed_networks=["127.0.0.0/8"], replication_max_attempts=1
)
REMOTE = "http://127.0.0.1:9"  # nothing listens: a copy fails with "connection refused"


async def add(ui: Ui, who: str, **fields: str) -> int:
    """Add a rule through the form; its id."""
    client = await ui.as_(who)
    form = {"url": REMOTE, "prefix": "mirror", "active": "yes", **fields}
    response = await client.post("/w/acme/replications", form)
    assert response.status_code == 303, response.text
    found = re.search(r"/w/acme/replications/(\d+)\?done=created$", response.headers["location"])
    assert found is not None
    return int(found[1])


async def fail_once(ui: Ui) -> None:
    """Push an image and let the replicator try (and fail) to copy it."""
    await ui.api.push("acme/web/api", "v1")
    ctx = ui.api.context
    replicator = Replicator(ctx.db, ctx.storage, ctx.settings, sealing_key(ctx))
    for _ in range(50):
        await replicator.run_once()
        if await ui.api.rows("SELECT id FROM replication_jobs WHERE state = 'failed'"):
            return
    raise AssertionError("the job did not fail")


async def test_adding_a_rule_shows_it_and_never_its_password(ui: Ui) -> None:
    made = await add(ui, "owner", username="ci", password="s3cret-password")
    owner = await ui.as_("owner")
    shown = await owner.get(f"/w/acme/replications/{made}?done=created")
    assert "every push from now on is copied" in shown.text
    assert f"{REMOTE}/mirror" in shown.text and "s3cret" not in shown.text
    listed = await owner.get("/w/acme/replications")
    assert f"{REMOTE}/mirror" in listed.text and "s3cret" not in listed.text


async def test_the_jobs_show_state_attempts_and_error_and_a_failed_one_is_tried_again(
    ui: Ui,
) -> None:
    made = await add(ui, "owner")
    await fail_once(ui)
    owner = await ui.as_("owner")
    page = (await owner.get(f"/w/acme/replications/{made}")).text
    jobs = page[page.index('<table class="jobs">') :]
    assert "<code>acme/web/api:v1</code>" in jobs
    assert "Failed" in jobs and "connection refused" in jobs and "Try again" in jobs
    assert "Last error" in page
    [job] = await ui.api.rows("SELECT id FROM replication_jobs")
    response = await owner.post(
        f"/w/acme/replications/{made}", {"action": "retry", "job": str(job["id"])}
    )
    assert response.status_code == 303
    [row] = await ui.api.rows("SELECT state, attempts FROM replication_jobs")
    assert (row["state"], row["attempts"]) == ("pending", 0)


async def test_a_rule_is_changed_and_deleted_through_its_page(ui: Ui) -> None:
    made = await add(ui, "owner")
    owner = await ui.as_("owner")
    here = f"/w/acme/replications/{made}"
    response = await owner.post(here, {"action": "save", "url": REMOTE, "prefix": "copies"})
    assert response.status_code == 303, response.text
    [row] = await ui.api.rows("SELECT prefix, active FROM replications")
    assert (row["prefix"], bool(row["active"])) == ("copies", False)
    assert "This rule is off" in (await owner.get(here)).text
    assert (await owner.post(here, {"action": "delete"})).status_code == 303
    assert await ui.api.rows("SELECT id FROM replications") == []


async def test_a_refused_remote_is_shown_on_the_form(ui: Ui) -> None:
    owner = await ui.as_("owner")
    response = await owner.post("/w/acme/replications", {"url": "https://169.254.169.254"})
    assert response.status_code == 400
    assert "cloud metadata" in response.text
    assert 'value="https://169.254.169.254"' in response.text


async def test_a_package_admin_adds_a_rule_for_their_package(ui: Ui) -> None:
    admin = await ui.as_("admin")
    page = await admin.get("/w/acme/replications?package=acme/web/api")
    assert 'value="acme/web/api"' in page.text
    await add(ui, "admin", package="acme/web/api")
    refused = await admin.post("/w/acme/replications", {"url": REMOTE, "package": ""})
    assert refused.status_code == 404
    [row] = await ui.api.rows("SELECT package FROM replications")
    assert row["package"] == "acme/web/api"


@pytest.mark.parametrize(("who", "status"), [("member", 200), ("reader", 404), (None, 303)])
async def test_others_see_no_rules(ui: Ui, who: str | None, status: int) -> None:
    made = await add(ui, "owner")
    client = await ui.as_(who) if who else ui.anonymous()
    listed = await client.get("/w/acme/replications")
    assert listed.status_code == status
    assert REMOTE not in listed.text
    assert (await client.get(f"/w/acme/replications/{made}")).status_code in (303, 404)


async def test_the_replication_pages_in_japanese_have_no_english_left(ui: Ui) -> None:
    made = await add(ui, "owner", username="ci", password="s3cret-password")
    await fail_once(ui)
    owner = await ui.as_("owner")
    owner.language = "ja"
    messages = english_patterns()
    data = re.compile(
        r"^(Cargohold|acme|ci|owner|http://127\.0\.0\.1:9(/mirror)?|owner@example\.com|—|#\d+"
        r"|\d+|/|·|acme/web/api:v1|\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC|English|日本語"
        r"|127\.0\.0\.1:9: connection refused.*|https://registry\.example\.com|web/api|mirror)$"
    )
    for path in ("/w/acme/replications", f"/w/acme/replications/{made}"):
        page = await owner.get(path)
        assert page.status_code == 200, path
        assert '<html lang="ja">' in page.text
        for text in visible_text(page.text):
            untranslated = [p.pattern for p in messages if p.fullmatch(text)]
            assert not untranslated, f"untranslated {text!r} on {path}: {untranslated}"
            english = re.fullmatch(r"[\x00-\x7f]+", text) and re.search(r"[A-Za-z]{2}", text)
            if english:
                assert data.match(text), f"English-looking text {text!r} on {path}"
    assert "レプリケーション" in (await owner.get("/w/acme")).text


async def test_credentials_that_cannot_go_in_a_header_are_refused_on_the_form(ui: Ui) -> None:
    owner = await ui.as_("owner")
    form = {"url": REMOTE, "username": "ci", "password": "two\nlines"}
    response = await owner.post("/w/acme/replications", form)
    assert response.status_code == 400
    assert "printable" in response.text
    assert await ui.api.rows("SELECT id FROM replications") == []

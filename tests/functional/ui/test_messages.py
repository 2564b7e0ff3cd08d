"""Service errors in the reader's words and language: each form's error paths, walked on
Japanese pages, leave no English; the English pages name things as the page does."""

from __future__ import annotations

import re

import httpx
import pytest

from cargohold.web.ui import messages
from tests.functional.ui.conftest import Ui, UiClient
from tests.functional.ui.test_japanese import english_patterns, visible_text
from tests.functional.ui.test_replications import add, fail_once

_ERROR = re.compile(
    r'<p class="(?:error|detail)" role="alert"[^>]*>(.*?)</p>|<p class="detail"[^>]*>(.*?)</p>',
    re.S,
)
# What an error may hold in ASCII on a Japanese page: the values it names (a command to
# run, an email domain, a protocol, a setting's or a provider's snake_case code among them).
_VALUES = re.compile(
    r"cargohold user create |@[\w.-]+|\bHTTP\b|\b[a-z]+(?:_[a-z]+)+\b|"
    r"'[^']*'|\"[^\"]*\"|[\w.+-]+@[\w.-]+|\b(acme|globex|URL|cargohold|cloudevents|distribution)\b|\b[a-z_]+\.[a-z_]+\b|[\w.-]+=[\w./*-]+|[\w.:*?-]*[/\d:][\w./:*?-]*",
    re.A,
)


def _errors(page: httpx.Response) -> list[str]:
    return [a or b for a, b in _ERROR.findall(page.text)]


def assert_no_english(page: httpx.Response, path: str) -> None:
    """The page shows an error, and neither it nor any other text is left in English."""
    errors = _errors(page)
    assert errors, f"no error shown on {path}: {page.text[:2000]}"
    english = re.search(r'<p class="(?:error|detail)"[^>]*lang="en"', page.text)
    assert english is None, f"an English message on {path}: {errors}"
    for error in errors:
        words = _VALUES.sub("", error.replace("&#39;", "'").replace("&#34;", '"'))
        assert not re.search(r"[A-Za-z]{2}", words), f"English left on {path}: {error!r}"
    patterns = english_patterns()
    for text in visible_text(page.text):
        untranslated = [p.pattern for p in patterns if p.fullmatch(text)]
        assert not untranslated, f"untranslated {text!r} on {path}"


# What may stay in ASCII on a Japanese page besides an error: names, addresses, digests,
# scopes, sizes, times and the token prefixes.
_DATA = re.compile(
    r"^(Cargohold|English|日本語|[\w.-]+@example\.com|[a-z0-9_./:-]+|[A-Z]+|\d+|—|/|·|\(|\)|,|:"
    r"|(ch[pa]_[a-z0-9]+_…)|[\w.-]+(/[\w.-]+)+|sha256:\w+…?|\(?[\d.]+ (kB|MB|GB)\)?"
    r"|(read|write|admin):package( (read|write|admin):package)*"
    r"|\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC|owner (read|write|admin):package|v\d.*)$"
)


def assert_all_japanese(page: httpx.Response, path: str) -> None:
    """A Japanese page with no English left: no catalog message untranslated, no text
    that looks English and is not data."""
    assert page.status_code == 200, (path, page.status_code)
    assert '<html lang="ja">' in page.text
    patterns = english_patterns()
    for text in visible_text(page.text):
        untranslated = [p.pattern for p in patterns if p.fullmatch(text)]
        assert not untranslated, f"untranslated {text!r} on {path}"
        if re.fullmatch(r"[\x00-\x7f]+", text) and re.search(r"[A-Za-z]{2}", text):
            assert _DATA.match(text), f"English-looking text {text!r} on {path}"


async def japanese(ui: Ui, who: str) -> UiClient:
    client = await ui.as_(who)
    client.language = "ja"
    return client


async def test_form_errors_on_japanese_pages_have_no_english_left(ui: Ui) -> None:
    owner = await japanese(ui, "owner")
    settings = "/p/acme/web/api/-/settings"
    posts: list[tuple[str, dict[str, str]]] = [
        ("/new-package", {"repository": "acme/web", "name": "Web App"}),  # not a name
        ("/new-package", {"repository": "acme/web", "name": "web/api"}),  # exists
        ("/new-package", {"repository": "acme/web", "name": ""}),  # said by the page
        ("/new-package", {"repository": "acme/nothing", "name": "x"}),
        (settings, {"action": "save", "untagged_days": "0"}),
        (settings, {"action": "save", "keep_newest": "100000", "untagged_days": ""}),
        (settings, {"action": "preview", "keep_pattern": "v*", "untagged_days": ""}),
        (settings, {"action": "save", "untagged_days": "abc"}),  # said by the page
        (settings, {"action": "protection", "patterns": "v*, "}),
        (settings, {"action": "protection", "patterns": "bad pattern!"}),
        ("/settings/tokens", {"name": "", "scope": "read:package", "expires": "30d"}),
        ("/settings/tokens", {"name": "ci", "expires": "30d"}),  # no scope
        ("/settings/tokens", {"name": "ci", "scope": "write:all", "expires": "30d"}),
        ("/settings/tokens", {"name": "ci", "scope": "read:package", "expires": "soon"}),
        ("/w/acme/members", {"action": "add_member", "email": "nobody@example.com"}),
        ("/w/acme/members", {"action": "remove_member", "email": "owner@example.com"}),
    ]
    for path, form in posts:
        page = await owner.post(path, form)
        assert page.status_code in (400, 409), (path, form, page.status_code)
        assert_no_english(page, f"{path} {form}")


async def test_webhook_trust_policy_and_audit_errors_on_japanese_pages_have_no_english_left(
    ui: Ui,
) -> None:
    owner = await japanese(ui, "owner")
    hook = {"url": "https://8.8.8.8/x", "event": "*", "format": "cargohold"}
    oidc = {"issuer": "https://ci.example.com", "audience": "cargohold", "target": "web"}
    oidc["claims"] = "repository=acme/web"
    posts: list[tuple[str, dict[str, str]]] = [
        ("/w/acme/webhooks", {**hook, "url": "ftp://hooks.example.com/x"}),
        ("/w/acme/webhooks", {**hook, "url": "http://127.0.0.1:9/x"}),
        ("/w/acme/webhooks", {**hook, "url": "https://10.0.0.1/x"}),
        ("/w/acme/webhooks", {**hook, "url": "https://8.8.8.8/x#part"}),
        ("/w/acme/webhooks", {**hook, "url": "https://nowhere.invalid/x"}),
        ("/w/acme/webhooks", {**hook, "event": "tag.exploded"}),
        ("/w/acme/webhooks", {**hook, "event": ""}),
        ("/w/acme/webhooks", {**hook, "format": "xml"}),
        ("/w/acme/webhooks", {**hook, "secret": "short"}),
        ("/w/acme/oidc", {**oidc, "lifetime": "3h"}),
        ("/w/acme/oidc", {**oidc, "claims": ""}),
        ("/w/acme/oidc", {**oidc, "role": "owner"}),
        ("/w/acme/oidc", {**oidc, "issuer": ""}),
        ("/w/acme/oidc", {**oidc, "claims": "no equals sign"}),  # said by the page
    ]
    for path, form in posts:
        page = await owner.post(path, form)
        assert page.status_code in (400, 409), (path, form, page.status_code)
        assert_no_english(page, f"{path} {form}")
    audit = await owner.get("/w/acme/audit?since=yesterday-ish")
    assert_no_english(audit, "/w/acme/audit since=yesterday-ish")


@pytest.mark.settings(replication_allowed_networks=["127.0.0.0/8"], replication_max_attempts=1)
async def test_replication_errors_on_japanese_pages_have_no_english_left(ui: Ui) -> None:
    made = await add(ui, "owner")
    await fail_once(ui)
    [job] = await ui.api.rows("SELECT id FROM replication_jobs")
    owner = await japanese(ui, "owner")
    rule = f"/w/acme/replications/{made}"
    new = {"url": "https://8.8.8.8", "prefix": "", "active": "yes"}
    posts: list[tuple[str, dict[str, str]]] = [
        ("/w/acme/replications", {**new, "url": "ftp://registry.example.com"}),
        ("/w/acme/replications", {**new, "url": "https://ci:secret@8.8.8.8"}),
        ("/w/acme/replications", {**new, "url": "https://8.8.8.8/v2/images"}),
        ("/w/acme/replications", {**new, "url": "https://169.254.169.254"}),
        ("/w/acme/replications", {**new, "url": "https://nowhere.invalid"}),
        ("/w/acme/replications", {**new, "url": "https://8.8.8.8/" + "x" * 2000}),
        ("/w/acme/replications", {**new, "prefix": "Team Images"}),
        ("/w/acme/replications", {**new, "package": "Web App"}),
        ("/w/acme/replications", {**new, "username": "ci"}),
        ("/w/acme/replications", {**new, "username": "c:i", "password": "secret"}),
        ("/w/acme/replications", {**new, "username": "ci", "password": "two\nlines"}),
        (rule, {"action": "save", **new, "prefix": "Team Images"}),
        (rule, {"action": "save", **new, "username": "ci", "password": "x", "anonymous": "1"}),
        (rule, {"action": "retry", "job": "first"}),
        (rule, {"action": "retry", "job": str(job["id"])}),  # pending again: tried already
        (rule, {"action": "explode"}),
    ]
    retried = await owner.post(rule, {"action": "retry", "job": str(job["id"])})
    assert retried.status_code == 303
    for path, form in posts:
        page = await owner.post(path, form)
        assert page.status_code in (400, 409), (path, form, page.status_code)
        assert_no_english(page, f"{path} {form}")
    # who may replicate: a package's writer, and a workspace member for the whole workspace
    for who, package in (("writer", "acme/web/api"), ("member", "")):
        client = await japanese(ui, who)
        page = await client.post("/w/acme/replications", {**new, "package": package})
        assert page.status_code == 403, (who, page.status_code)
        assert_no_english(page, f"a rule added by {who}")


async def test_refusals_on_japanese_pages_name_the_role_in_japanese(ui: Ui) -> None:
    reader = await japanese(ui, "reader")
    page = await reader.post("/new-package", {"repository": "acme/web", "name": "web/new"})
    assert page.status_code == 403
    assert_no_english(page, "/new-package as reader")
    assert "読み取り" in page.text and "管理者" in page.text  # the role held and the one needed
    writer = await japanese(ui, "writer")
    page = await writer.get("/p/acme/web/api/-/settings")
    assert page.status_code == 403
    assert_no_english(page, "settings as writer")


async def test_the_package_form_speaks_of_a_package_name_not_a_repository_name(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.post("/new-package", {"repository": "acme/web", "name": "Web App"})
    assert page.status_code == 400
    assert "&#39;acme/Web App&#39; is not a valid package name" in page.text
    assert "repository name" not in page.text


def test_a_message_nobody_listed_is_shown_as_written_and_marked_english() -> None:
    said = messages.say("the moon is made of cheese", lambda text: text)
    assert (said.text, said.lang) == ("the moon is made of cheese", "en")


def test_values_that_are_words_of_the_product_are_translated() -> None:
    catalog = {"read": "R", "admin": "A"}
    said = messages.say(
        "your read access to repository acme/web does not allow this; it needs admin",
        lambda text: catalog.get(text, text),
    )
    assert said.lang is None
    assert said.text == "Your R access to repository acme/web does not allow this; it needs A."


def test_every_listed_message_is_in_the_japanese_catalog() -> None:
    from babel.messages.pofile import read_po

    from tests.functional.ui.test_japanese import CATALOG

    with CATALOG.open("rb") as handle:
        translated = {str(m.id): m.string for m in read_po(handle) if m.id}
    wanted = [shown for _, shown in messages.KNOWN] + list(messages.TERMS.values())
    assert [text for text in wanted if not translated.get(text)] == []

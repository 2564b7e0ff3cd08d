"""Every UI string is translated: the main pages rendered in Japanese hold no English
string of the catalog, dates and sizes are written the Japanese way."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from babel.messages.pofile import read_po

from cargohold.web.ui import i18n
from tests.functional.ui.conftest import Ui, push_multi_arch

CATALOG = i18n.LOCALE_DIR / "ja" / "LC_MESSAGES" / "messages.po"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "pre"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "pre"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def english_messages() -> list[str]:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    return [str(message.id) for message in catalog if message.id]


def english_patterns() -> list[re.Pattern[str]]:
    """Each English message of the catalog as it renders untranslated: its placeholders
    (`%(name)s`) match any text. Messages with no word of their own are left out."""
    patterns = []
    for message in english_messages():
        parts = re.split(r"%\(\w+\)[sd]", message.replace("%%", "%"))
        if re.search(r"[A-Za-z]{3}", "".join(parts)):
            patterns.append(re.compile(".+?".join(re.escape(part) for part in parts)))
    return patterns


def test_every_message_has_a_japanese_translation() -> None:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    untranslated = [message.id for message in catalog if message.id and not message.string]
    assert untranslated == []


async def test_main_pages_in_japanese_have_no_english_left(ui: Ui) -> None:
    pushed = await push_multi_arch(ui, "acme/web/api", "v2")
    owner = await ui.as_("owner")
    owner.language = "ja"
    messages = english_patterns()
    # What may stay in ASCII on a Japanese page: names, addresses, digests, scopes, sizes,
    # times. Everything else with two letters in a row is English left untranslated.
    data = re.compile(
        r"^(Cargohold|[a-z0-9-]+(/[a-z0-9.-]+)*|acme[\w/.-]*( \(\w+\))?|globex[\w/.-]*"
        r"|PLAT|WWW|APP|v2|owner"
        r"|[\w.-]+@example\.com"
        r"|English|日本語|—|#|\d+|linux/\w+(, linux/\w+)*|sha256:\w+…?"
        r"|\(?[\d.]+ (kB|MB|GB)\)?"
        r"|\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC"
        r"|owner (read|write|admin):package"  # the name of owner@'s token in the API world
        r"|/|:|·|@|\(|\)|,|\.|read:package|write:package|admin:package)$"
    )
    pushed_data = {"<script>alert(1)</script>", "<b>bold</b>"}  # a label and an annotation
    pages = [
        "/",
        "/w/acme",
        "/w/acme/projects/PLAT",
        "/w/acme/repos/web",
        "/p/acme/web/api",
        "/p/acme/web/api/-/tags/v2",
        f"/p/acme/web/api/-/manifests/{pushed.children[0]}",
        "/p/acme/web/api/-/tags/v2/delete",
        "/new-package",
        "/settings/tokens",
        "/w/acme/members",
        "/w/acme/tokens",
        "/w/acme/audit",
        "/w/acme/projects",
        "/w/acme/projects/PLAT/settings",
        "/w/acme/repos",
        "/w/acme/repos/web/settings",
        "/w/acme/settings",
        "/new-workspace",
    ]
    for path in pages:
        page = await owner.get(path)
        assert page.status_code == 200, path
        assert '<html lang="ja">' in page.text
        texts = visible_text(page.text)
        for text in texts:
            if text in pushed_data:
                continue
            untranslated = [p.pattern for p in messages if p.fullmatch(text)]
            assert not untranslated, f"untranslated {text!r} on {path}: {untranslated}"
            if re.fullmatch(r"[\x00-\x7f]+", text) and re.search(r"[A-Za-z]{2}", text):
                assert data.match(text), f"English-looking text {text!r} on {path}"


async def test_language_follows_accept_language_and_the_setting(ui: Ui) -> None:
    owner = await ui.as_("owner")
    page = await owner.get("/w/acme", headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"})
    assert '<html lang="ja">' in page.text and "パッケージ" in page.text
    page = await owner.get("/w/acme", headers={"Accept-Language": "fr, en;q=0.5"})
    assert '<html lang="en">' in page.text
    switched = await owner.post("/language", {"language": "ja", "next": "/w/acme"})
    assert switched.status_code == 303
    assert "cargohold_lang=ja" in switched.headers["set-cookie"]


async def test_dates_and_sizes_are_formatted_for_the_locale(ui: Ui) -> None:
    await push_multi_arch(ui, "acme/web/api", "v2")
    owner = await ui.as_("owner")
    owner.language = "ja"
    page = await owner.get("/p/acme/web/api")
    assert re.search(r"\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC", page.text)
    owner.language = "en"
    page = await owner.get("/p/acme/web/api")
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", page.text)

"""Sizes on the tag and image pages: each platform's compressed size (config and layers)
and the total, a single-platform image's platform read from its config, and sizes written
"777 bytes" / "777 バイト" with the same units (kB, MB, GB) in both languages."""

from __future__ import annotations

import base64
import re

import httpx

from tests.functional.api.people import email
from tests.functional.registry import Registry, image_manifest, random_blob
from tests.functional.ui.conftest import Ui, push_multi_arch

CONFIG = b'{"architecture":"arm","os":"linux","variant":"v7"}'


async def _push(ui: Ui, tag: str, layers: list[bytes]) -> str:
    """Push, as owner@, an image of these layers with CONFIG to acme/web/api."""
    credentials = f"{email('owner')}:{await ui.api.token('owner')}"
    auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    async with httpx.AsyncClient(
        transport=ui.api.transport, base_url="http://registry.test", headers=auth
    ) as client:
        registry = Registry(client, ui.api.context)
        return await registry.push_image("acme/web/api", tag, image_manifest(layers, CONFIG))


def _fact(text: str, name: str) -> str:
    found = re.search(rf"<dt>{re.escape(name)}</dt><dd>(.*?)</dd>", text, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found[1]).strip()


async def test_an_image_page_shows_its_compressed_size_of_config_and_layers(ui: Ui) -> None:
    await _push(ui, "v1", [random_blob(300), random_blob(400)])
    page = await (await ui.as_("reader")).get("/p/acme/web/api/-/tags/v1")
    assert _fact(page.text, "Compressed size") == f"{len(CONFIG) + 700} bytes (config and layers)"


async def test_a_multi_arch_tag_shows_each_platforms_size_and_the_total(ui: Ui) -> None:
    await push_multi_arch(ui, "acme/web/api", "v2")  # amd64: 300 + 200, arm64: the 300
    page = await (await ui.as_("reader")).get("/p/acme/web/api/-/tags/v2")
    rows = re.findall(r"<tr><td>(linux/\w+)</td>(.*?)</tr>", page.text, re.S)
    assert [platform for platform, _ in rows] == ["linux/amd64", "linux/arm64"]
    amd64, arm64 = (int(re.findall(r'"num">(\d+) bytes<', row)[-1]) for _, row in rows)
    assert arm64 == len(b'{"architecture":"arm64","os":"linux"}') + 300
    assert amd64 > 500  # its config and both layers
    assert _fact(page.text, "Compressed size") == (
        f"{amd64 + arm64 - 300} bytes (all platforms, shared layers counted once)"
    )


async def test_a_single_platform_image_shows_the_platform_of_its_config(ui: Ui) -> None:
    await _push(ui, "v1", [random_blob(10)])
    page = await (await ui.as_("reader")).get("/p/acme/web/api")
    assert "<td>linux/arm/v7</td>" in page.text


async def test_sizes_are_spelled_out_in_bytes_in_both_languages(ui: Ui) -> None:
    await _push(ui, "v1", [random_blob(777 - len(CONFIG))])
    reader = await ui.as_("reader")
    english = await reader.get("/p/acme/web/api/-/tags/v1")
    assert _fact(english.text, "Compressed size").startswith("777 bytes")
    reader.language = "ja"
    japanese = await reader.get("/p/acme/web/api/-/tags/v1")
    assert _fact(japanese.text, "圧縮サイズ").startswith("777 バイト")


async def test_larger_sizes_use_the_same_units_in_both_languages(ui: Ui) -> None:
    await _push(ui, "v1", [random_blob(1500 - len(CONFIG))])
    reader = await ui.as_("reader")
    english = await reader.get("/p/acme/web/api/-/tags/v1")
    assert _fact(english.text, "Compressed size").startswith("1.5 kB")
    reader.language = "ja"
    japanese = await reader.get("/p/acme/web/api/-/tags/v1")
    assert _fact(japanese.text, "圧縮サイズ").startswith("1.5 kB")

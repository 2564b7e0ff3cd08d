"""The management API's interactive page in a real browser: the vendored Swagger UI shows
the operations under the page's Content-Security-Policy, asking nothing of another origin."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import ConsoleMessage, Page, Request, expect

from tests.ui.conftest import Server


def test_the_api_docs_page_works_under_its_csp_from_this_origin_only(
    server: Server, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    refused: list[str] = []
    asked: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            refused.append(f"{message.text} {message.location.get('url')}")

    def request(sent: Request) -> None:
        asked.append(sent.url)

    page.on("console", console)
    page.on("request", request)
    page.goto(f"{server.url}/api/v1/docs")

    expect(page.locator(".information-container .title")).to_contain_text(
        "Cargohold management API"
    )
    expect(page.locator(".opblock-summary-path", has_text="/workspaces").first).to_be_visible()
    page.locator(".opblock-summary", has_text="/workspaces").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert refused == []
    assert asked and all(url.startswith((server.url, "data:")) for url in asked), asked

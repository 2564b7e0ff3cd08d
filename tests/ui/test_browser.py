"""The web UI in a real browser: sign in, create a package, push to it with skopeo, find
it on the workspace, project and repository pages, read its tag page, make a token and log
in with it with podman, delete a tag; a read-only user sees no delete buttons and is
refused when posting the form directly; posts without the CSRF token are refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.interop._support import ContainersConfig, OciLayout, StorageTool, run, tool
from tests.ui.conftest import OWNER, READER, Server, screenshot, sign_in


def push_multi_arch(
    server: Server, containers: ContainersConfig, workdir: Path, ref: str, token: str
) -> None:
    """Push a two-platform image with skopeo, logged in with an API token."""
    layout = OciLayout(workdir / "layout")
    images = [
        layout.add_image(
            [{"app/hello.txt": b"hello from amd64\n"}, {"app/extra.txt": b"x" * 4096}],
            architecture="amd64",
            labels={"org.opencontainers.image.source": "https://example.com/acme/web"},
        ),
        layout.add_image([{"app/hello.txt": b"hello from arm64\n"}], architecture="arm64"),
    ]
    _, descriptor = layout.add_index(images)
    layout.tag("v1", descriptor)
    run(
        [
            tool("skopeo"), "--policy", str(containers.policy), "copy", "--all",
            "--dest-tls-verify=false", "--dest-creds", f"{OWNER}:{token}",
            f"oci:{layout.root}:v1", f"docker://{server.host}/{ref}",
        ],
        timeout=120,
        env=containers.env,
    )  # fmt: skip


def create_token(page: Page, server: Server, name: str, scope: str) -> str:
    page.goto(f"{server.url}/settings/tokens")
    page.fill("#token-name", name)
    for box in page.locator("input[name=scope]").all():
        box.set_checked(box.get_attribute("value") == scope)
    page.locator("form.token-form button[type=submit]").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert re.fullmatch(r"chp_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", secret), secret
    expect(page.locator("#cmd-login")).to_contain_text("--password-stdin")
    return secret


def test_owner_creates_pushes_browses_and_deletes(
    server: Server,
    containers: ContainersConfig,
    podman: StorageTool,
    new_page: Callable[..., Page],
    tmp_path: Path,
) -> None:
    page = new_page()
    page.goto(f"{server.url}/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    screenshot(page, "sign-in")
    sign_in(page, server, OWNER)
    expect(page.locator("main")).to_contain_text("Acme")

    # Create a package; the page says how to push to it.
    page.goto(f"{server.url}/new-package")
    page.select_option("#repository", "acme/web")
    page.fill("#name", "web/app")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#cmd-push")).to_contain_text(f"docker push {server.host}/acme/web/app")
    expect(page.locator("#cmd-build")).to_contain_text(
        f"docker build --tag {server.host}/acme/web/app:latest ."
    )
    expect(page.locator("#cmd-login")).to_contain_text(f"docker login {server.host}")
    expect(page.locator("button.copy").first).to_be_visible()  # JavaScript shows them
    screenshot(page, "package-created")

    # A token made here logs podman in, and skopeo pushes with it.
    secret = create_token(page, server, "laptop", "write:package")
    screenshot(page, "token-created")
    login = podman(
        "login", "--tls-verify=false", "--username", OWNER, "--password-stdin", server.host,
        input=secret.encode(),
    )  # fmt: skip
    assert "Login Succeeded" in login.out
    push_multi_arch(server, containers, tmp_path, "acme/web/app:v1", secret)
    page.goto(f"{server.url}/settings/tokens")
    expect(page.locator("table.tokens")).to_contain_text("laptop")
    expect(page.locator("#new-token")).to_have_count(0)  # shown once only

    # The push shows up on the workspace, project and repository pages.
    for path in ("/w/acme", "/w/acme/projects/PLAT", "/w/acme/repos/web"):
        page.goto(f"{server.url}{path}")
        expect(page.locator("table.packages")).to_contain_text("acme/web/app")
    page.goto(f"{server.url}/w/acme")
    screenshot(page, "workspace")

    page.get_by_role("link", name="acme/web/app").click()
    expect(page.locator("table.tags")).to_contain_text("linux/amd64, linux/arm64")
    expect(page.locator("#cmd-pull")).to_contain_text(f"docker pull {server.host}/acme/web/app:v1")
    screenshot(page, "package")

    # The tag page: an index with its platforms; each platform's manifest has layers.
    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.locator("table.platforms")).to_contain_text("linux/amd64")
    expect(page.locator("table.platforms")).to_contain_text("linux/arm64")
    screenshot(page, "tag")
    page.locator("table.platforms tbody tr").first.locator("a").click()
    expect(page.locator("table.layers tbody tr")).to_have_count(2)
    expect(page.locator("main")).to_contain_text("org.opencontainers.image.source")
    screenshot(page, "image")

    # Delete the tag, after a confirmation that says what goes.
    page.goto(f"{server.url}/p/acme/web/app/-/tags/v1")
    page.get_by_role("link", name="Delete tag").click()
    expect(page.locator("main")).to_contain_text("Only the tag goes")
    screenshot(page, "confirm-delete")
    page.locator("main form button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text("v1")
    expect(page.locator("table.tags")).to_have_count(0)
    # Owners manage members and grants.
    page.goto(f"{server.url}/w/acme/members")
    expect(page.locator("main")).to_contain_text(READER)

    tags = httpx.get(
        f"{server.url}/api/v1/packages/acme/web/app/-/tags",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert tags.json()["items"] == []


def test_reader_sees_no_delete_buttons_and_is_refused(
    server: Server, containers: ContainersConfig, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    owner = new_page()
    sign_in(owner, server, OWNER)
    owner.goto(f"{server.url}/new-package")
    owner.select_option("#repository", "acme/web")
    owner.fill("#name", "web/readonly")
    owner.locator("main form button[type=submit]").click()
    secret = create_token(owner, server, "push", "write:package")
    push_multi_arch(server, containers, tmp_path, "acme/web/readonly:v1", secret)

    page = new_page()
    sign_in(page, server, READER)
    page.goto(f"{server.url}/p/acme/web/readonly")
    expect(page.locator("table.tags")).to_contain_text("v1")
    expect(page.locator("a.danger")).to_have_count(0)
    page.goto(f"{server.url}/p/acme/web/readonly/-/tags/v1")
    expect(page.locator("a.danger")).to_have_count(0)

    # Posting the delete form directly, with the reader's own CSRF token, is refused.
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    status = page.evaluate(
        """async ([url, token]) => {
            const body = new URLSearchParams({csrf: token});
            const r = await fetch(url, {method: "POST", body, redirect: "manual"});
            return r.status;
        }""",
        [f"{server.url}/p/acme/web/readonly/-/tags/v1/delete", token],
    )
    assert status == 403
    page.reload()
    expect(page.locator("main")).to_contain_text("application/vnd.oci.image.index.v1+json")


def test_posts_without_csrf_token_are_refused(
    server: Server, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    sign_in(page, server, OWNER)
    status = page.evaluate(
        """async (url) => {
            const body = new URLSearchParams({name: "sneaky", "scope": "read:package"});
            const r = await fetch(url, {method: "POST", body, redirect: "manual"});
            return r.status;
        }""",
        f"{server.url}/settings/tokens",
    )
    assert status == 403
    page.goto(f"{server.url}/settings/tokens")
    expect(page.locator("main")).not_to_contain_text("sneaky")


def test_phone_width_japanese_and_keyboard(server: Server, new_page: Callable[..., Page]) -> None:
    page = new_page(width=390, height=780, locale="ja-JP")
    page.goto(f"{server.url}/sign-in")
    expect(page.locator("h1")).to_have_text("サインイン")
    # Keyboard only: skip link, then the form's fields.
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.fill("#email", OWNER)
    page.focus("#password")
    page.keyboard.type("a long browser password")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    page.goto(f"{server.url}/w/acme")
    expect(page.locator("h1")).to_contain_text("のパッケージ")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    screenshot(page, "workspace-phone-ja")


def test_search_narrows_the_list_without_a_page_load(
    server: Server, new_page: Callable[..., Page]
) -> None:
    for name in ("acme/web/search-alpha", "acme/web/search-beta"):
        server.cli("package", "create", name, "--repo", "web")
    page = new_page()
    sign_in(page, server, OWNER)
    page.goto(f"{server.url}/w/acme")
    page.evaluate("window.notReloaded = true")
    page.fill("#q", "search-al")
    expect(page).to_have_url(re.compile(r"q=search-al"))
    expect(page.locator("table.packages tbody tr")).to_have_count(1)
    expect(page.locator("table.packages")).to_contain_text("acme/web/search-alpha")
    assert page.evaluate("window.notReloaded") is True
    page.select_option("#sort", "size")
    expect(page).to_have_url(re.compile(r"sort=size"))
    assert page.evaluate("window.notReloaded") is True

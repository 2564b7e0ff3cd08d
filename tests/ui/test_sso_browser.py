"""Single sign-on in Chromium: a person signs in to the web UI through a real, certified
OpenID Provider's own login page (tests/oidc/provider), and lands signed in to the account
with the same, verified email address; an unverified email is refused.

The registry of this module is a `cargohold serve --auth token` with single sign-on set up
for that provider (an http:// issuer on 127.0.0.1, let in by the settings for tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, Route

from tests.backends import free_port
from tests.interop._support import registry_serving, run
from tests.oidc.provider import UI_CLIENT, RealProvider, real_provider

OWNER = "owner@example.com"


@dataclass(frozen=True)
class SsoServer:
    url: str
    provider: RealProvider


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoServer]:
    workdir = tmp_path_factory.mktemp("sso-server")
    data_dir = workdir / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    for email in (OWNER, "reader@example.com"):
        cli = [sys.executable, "-m", "cargohold", "user", "create", email, "--data-dir"]
        run([*cli, str(data_dir)], timeout=60)
    with real_provider(workdir, f"{url}/sign-in/sso/callback") as provider:
        env = {
            **os.environ,
            "CARGOHOLD_SSO_ISSUER": provider.url,
            "CARGOHOLD_SSO_CLIENT_ID": UI_CLIENT[0],
            "CARGOHOLD_SSO_CLIENT_SECRET": UI_CLIENT[1],
            "CARGOHOLD_SSO_NAME": "the test provider",
            "CARGOHOLD_PASSWORD_LOGIN": "false",
            "CARGOHOLD_OIDC_ALLOW_HTTP_ISSUERS": "true",
            "CARGOHOLD_OIDC_ALLOWED_NETWORKS": "127.0.0.1/32",
        }
        cmd = [
            sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1", "--port",
            str(port), "--data-dir", str(data_dir), "--auth", "token",
        ]  # fmt: skip
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        with registry_serving(process, f"{url}", log_path):
            yield SsoServer(url, provider)


def _loopback_only(route: Route) -> None:
    """The provider's pages ask for web fonts; nothing leaves the machine."""
    host = route.request.url.split("/")[2]
    if host.startswith("127.0.0.1"):
        route.continue_()
    else:
        route.abort()


def sign_in_at_the_provider(page: Page, server: SsoServer, login: str) -> None:
    page.route("**/*", _loopback_only)
    page.goto(f"{server.url}/sign-in")
    assert page.locator("input#password").count() == 0  # password sign-in is off
    page.get_by_role("link", name="Sign in with the test provider").click()
    page.wait_for_url(f"{server.provider.url}/interaction/**")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything: the provider's test login takes any")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent page
    page.wait_for_url(f"{server.url}/**")


def test_a_person_signs_in_through_the_providers_login_page(
    sso_server: SsoServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    sign_in_at_the_provider(page, sso_server, OWNER)
    assert page.url == f"{sso_server.url}/"
    assert page.locator("header .who").inner_text() == "owner"
    page.goto(f"{sso_server.url}/settings/tokens")
    assert "Single sign-on" in page.locator("table.sessions").inner_text()


def test_an_email_the_provider_has_not_verified_is_refused(
    sso_server: SsoServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    # mallory's provider account claims owner@'s address, unverified
    sign_in_at_the_provider(page, sso_server, "mallory@example.com")
    assert "/sign-in/sso/callback" in page.url
    alert = page.get_by_role("alert").inner_text()
    assert "has not verified your email address" in alert
    assert page.locator("header .who").count() == 0


def test_signing_out_ends_the_single_sign_on_session(
    sso_server: SsoServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    sign_in_at_the_provider(page, sso_server, "reader@example.com")
    assert page.locator("header .who").inner_text() == "reader"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{sso_server.url}/sign-in")
    page.goto(f"{sso_server.url}/settings/tokens")
    assert page.url.startswith(f"{sso_server.url}/sign-in")

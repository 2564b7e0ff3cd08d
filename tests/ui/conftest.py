"""Browser tests: Playwright for Python driving Debian's chromium (headless) against a
live `cargohold serve --auth token`, with people made by the CLI, and skopeo and podman
as the clients (their private config, as in the interop suite).

Screenshots of the main pages go to docs/screenshots/ (committed, referenced from
docs/ui.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.backends import free_port
from tests.interop._support import (
    ContainersConfig,
    Proc,
    StorageTool,
    registry_serving,
    run,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a long browser password"
OWNER = "owner@example.com"
READER = "reader@example.com"


@dataclass(frozen=True)
class Server:
    url: str
    host: str
    data_dir: Path
    log_path: Path

    def cli(self, *args: str, input: bytes | None = None) -> Proc:
        cmd = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(self.data_dir)]
        return run(cmd, timeout=60, input=input)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("ui-server")
    data_dir = workdir / "data"
    port = free_port()
    log_path = workdir / "server.log"
    cmd = [
        sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--auth", "token",
    ]  # fmt: skip
    srv = Server(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", data_dir, log_path)
    for email in (OWNER, READER):
        srv.cli("user", "create", email, "--password-stdin", input=PASSWORD.encode())
    srv.cli("workspace", "create", "acme", "--owner", OWNER, "--name", "Acme")
    srv.cli("project", "create", "acme", "PLAT", "--name", "Platform")
    srv.cli("repo", "create", "acme/web", "--project", "PLAT")
    srv.cli("repo", "grant", "acme/web", READER, "read")
    env = {**os.environ, "CARGOHOLD_LOGIN_MAX_FAILURES": "1000"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
            env=env,
        )  # fmt: skip
    with registry_serving(process, f"{srv.url}", log_path):
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: the sync API runs an event loop in this thread while it is open, so it
    must be closed before other suites call asyncio.run()."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """`new_page(width=…, height=…, locale=…)`: a page in a fresh browser context."""
    contexts = []

    def make(width: int = 1100, height: int = 760, locale: str = "en-US") -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page: Page, server: Server, email: str) -> None:
    page.goto(f"{server.url}/sign-in")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{server.url}/")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture(scope="session")
def containers(server: Server, tmp_path_factory: pytest.TempPathFactory) -> ContainersConfig:
    base = tmp_path_factory.mktemp("containers")
    policy = base / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    registries = base / "registries.conf"
    registries.write_text(
        'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
        f'[[registry]]\nlocation = "{server.host}"\ninsecure = true\n'
    )
    conf = base / "containers.conf"
    conf.write_text(
        '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
        f'events_logfile_path = "{base / "events.log"}"\n'
    )
    auth = base / "auth.json"
    auth.write_text(json.dumps({"auths": {}}))
    (base / "tmp").mkdir()
    env = dict(os.environ)
    env.update(
        CONTAINERS_REGISTRIES_CONF=str(registries),
        CONTAINERS_CONF=str(conf),
        REGISTRY_AUTH_FILE=str(auth),
        TMPDIR=str(base / "tmp"),
    )
    return ContainersConfig(env=env, policy=policy)


@pytest.fixture
def podman(containers: ContainersConfig) -> Iterator[StorageTool]:
    """podman with a private vfs storage in a short directory (its runroot path is limited)."""
    short = Path(tempfile.mkdtemp(prefix="chui-"))
    try:
        yield StorageTool("podman", short, containers)
    finally:
        shutil.rmtree(short, ignore_errors=True)

"""The real OpenID Provider of the tests: panva's certified `oidc-provider` from the npm
registry (tests/oidc/provider: package.json, package-lock.json and server.js), on
127.0.0.1. `npm ci` installs it when node_modules is missing (scripts/install-deps does it
too). It signs people in through its own login page (single sign-on) and mints the ID
tokens of CI systems (server.js says how)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.backends import free_port

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
CI_GRANT = "urn:cargohold:test:ci-token"
CI_SECRET = "ci-secret"
UI_CLIENT = ("cargohold-ui", "ui-secret")
READY_TIMEOUT = 30.0


def _node() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise RuntimeError("the OpenID Provider of the tests needs Node.js 20 or later and npm")
    return node


def install() -> None:
    """`npm ci` in tests/oidc/provider, unless its node_modules holds oidc-provider."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing: install Node.js 20 or later with npm")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=PROVIDER_DIR,
        check=True,
        timeout=300,
        capture_output=True,
    )


@dataclass(frozen=True)
class RealProvider:
    url: str  # the issuer
    log_path: Path

    def ci_token(self, client: str, claims: dict[str, Any]) -> str:
        """An ID token for `client` (ci-bitbucket, ci-github, ci-gitlab: its `aud`) carrying
        `claims`, signed with the provider's key."""
        answer = httpx.post(
            f"{self.url}/token",
            data={"grant_type": CI_GRANT, "claims": json.dumps(claims)},
            auth=(client, CI_SECRET),
            timeout=10,
        )
        answer.raise_for_status()
        token: str = answer.json()["id_token"]
        return token

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextmanager
def real_provider(workdir: Path, redirect_uri: str) -> Iterator[RealProvider]:
    """The provider on a free port of 127.0.0.1 while the block runs; `redirect_uri` is
    where single sign-on sends people back (the registry's callback)."""
    node = _node()
    install()
    port = free_port()
    log_path = workdir / "oidc-provider.log"
    env = {"PATH": str(Path(node).parent), "PORT": str(port), "REDIRECT_URI": redirect_uri}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, "server.js"],
            cwd=PROVIDER_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    provider = RealProvider(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the OpenID Provider exited:\n{provider.log()}")
            try:
                found = httpx.get(f"{provider.url}/.well-known/openid-configuration", timeout=2)
                if found.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the OpenID Provider did not start:\n{provider.log()}")
            time.sleep(0.2)
        yield provider
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

"""A workspace quota against a real client: skopeo pushing into a workspace with a tiny
quota is refused, and its output carries the registry's message; once an admin raises
the quota (`cargohold workspace quota`), the same push goes through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ._support import OciLayout, Skopeo, TokenServer

pytestmark = pytest.mark.interop

IMAGE = "tiny/app"


@pytest.fixture(scope="module")
def pusher(token_server: TokenServer) -> str:
    """`user:token` of the owner of workspace `tiny`, whose quota is 1 KiB."""
    cli = token_server.cli
    cli("user", "create", "quota-owner@example.com")
    cli("workspace", "create", "tiny", "--owner", "quota-owner@example.com")
    cli("project", "create", "tiny", "APP")
    cli("repo", "create", "tiny/app", "--project", "APP")
    cli("package", "create", IMAGE, "--repo", "app")
    cli("workspace", "quota", "tiny", "1KiB")
    token = cli(
        "token", "create", "quota-owner@example.com", "--name", "push",
        "--scope", "write:package", "--expires", "1d",
    ).out.strip()  # fmt: skip
    return f"quota-owner@example.com:{token}"


def test_push_over_the_quota_is_refused_with_the_message(
    skopeo: Skopeo, token_server: TokenServer, pusher: str, tmp_path: Path
) -> None:
    layout = OciLayout(tmp_path / "src")
    image = layout.add_image([{"data.bin": os.urandom(8192)}])  # random: gzip cannot shrink it
    layout.tag("v1", image.descriptor)
    dest = f"docker://{token_server.registry.host}/{IMAGE}:v1"
    copy = ("copy", "--dest-tls-verify=false", "--dest-creds", pusher, f"oci:{layout.root}:v1")

    refused = skopeo(*copy, dest, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "denied" in refused.err, refused.describe()
    assert "workspace tiny would exceed its storage quota" in refused.err, refused.describe()
    assert "of 1.0 KiB; delete images" in refused.err, refused.describe()

    token_server.cli("workspace", "quota", "tiny", "1MiB")
    pushed = skopeo(*copy, dest)
    assert pushed.returncode == 0, pushed.describe()

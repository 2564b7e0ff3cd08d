"""A CI pipeline, run as the script docs/ci.md shows: a repository access token, `docker
login --password-stdin`, `docker build`, `docker image push`; then a deploy host pulls with a
read-only access token and may not push with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._support import Docker, TokenServer, run
from .test_docker import file_from_image

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ci-pipeline.sh"
IMAGE = "shop/storefront"


@pytest.fixture(scope="module")
def tokens(token_server: TokenServer) -> dict[str, str]:
    """The setup an admin does once: a workspace, a repository, its package, and two access
    tokens of the repository, one for CI and one for deploy hosts."""
    cli = token_server.cli
    cli("user", "create", "lead@example.com")
    cli("workspace", "create", "shop", "--owner", "lead@example.com")
    cli("project", "create", "shop", "WEB")
    cli("repo", "create", "shop/storefront", "--project", "WEB")
    cli("package", "create", IMAGE, "--repo", "storefront")

    def access_token(name: str, scope: str) -> str:
        made = cli("token", "create-access", "shop/storefront", "--name", name, "--scope", scope)
        return made.out.strip()

    return {
        "ci": access_token("pipeline", "write:package"),
        "deploy": access_token("deploy", "read:package"),
    }


def test_pipeline_pushes_and_a_deploy_host_pulls(
    docker: Docker, token_server: TokenServer, tokens: dict[str, str], tmp_path: Path
) -> None:
    host = token_server.registry.host
    ref = f"{host}/{IMAGE}:build-42"

    # the pipeline: a checkout with a Dockerfile, the token as a secret variable
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "index.html").write_text("<h1>storefront build 42</h1>\n")
    (checkout / "Dockerfile").write_text("FROM scratch\nCOPY index.html /srv/index.html\n")
    ci = docker.with_config(tmp_path / "ci-docker")
    env = {
        **ci.env,
        "CARGOHOLD_REGISTRY": host,
        "CARGOHOLD_IMAGE": IMAGE,
        "CARGOHOLD_TOKEN": tokens["ci"],
        "IMAGE_TAG": "build-42",
    }
    pipeline = run(["sh", str(SCRIPT)], timeout=180, env=env, cwd=checkout)
    assert "Login Succeeded" in pipeline.out, pipeline.describe()
    assert "build-42: digest: sha256:" in pipeline.out, pipeline.describe()
    ci("rmi", ref)

    # a deploy host pulls with the read-only token...
    deploy = docker.with_config(tmp_path / "deploy-docker")
    login = deploy(
        "login", "--username", "deploy", "--password-stdin", host,
        input=f"{tokens['deploy']}\n".encode(),
    )  # fmt: skip
    assert "Login Succeeded" in login.out, login.describe()
    deploy("pull", ref)
    assert file_from_image(deploy, ref, "/srv/index.html") == b"<h1>storefront build 42</h1>\n"

    # ...and may not push with it
    deploy("tag", ref, f"{host}/{IMAGE}:tampered")
    refused = deploy("image", "push", f"{host}/{IMAGE}:tampered", check=False)
    assert refused.returncode != 0, refused.describe()
    assert "denied" in refused.err, refused.describe()
    assert "read access to 'shop/storefront' does not allow this" in refused.err
    deploy("rmi", ref, f"{host}/{IMAGE}:tampered")


def test_pipeline_fails_without_a_valid_token(
    docker: Docker, token_server: TokenServer, tokens: dict[str, str], tmp_path: Path
) -> None:
    ci = docker.with_config(tmp_path / "ci-docker")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    env = {
        **ci.env,
        "CARGOHOLD_REGISTRY": token_server.registry.host,
        "CARGOHOLD_IMAGE": IMAGE,
        "CARGOHOLD_TOKEN": tokens["ci"][:-4] + "nope",
    }
    failed = run(["sh", str(SCRIPT)], timeout=60, env=env, cwd=tmp_path, check=False)
    assert failed.returncode != 0, failed.describe()
    assert "wrong email or token" in failed.err, failed.describe()

    del env["CARGOHOLD_TOKEN"]
    unset = run(["sh", str(SCRIPT)], timeout=60, env=env, cwd=tmp_path, check=False)
    assert unset.returncode != 0
    assert "set CARGOHOLD_TOKEN" in unset.err, unset.describe()

"""Keyless CI with the real Docker engine and a real, certified OpenID Provider: pipelines
log in with the ID token their CI system issued (`docker login -u oidc --password-stdin`),
as docs/ci.md shows, and push or pull exactly what their trust policy grants.

The provider (tests/oidc/provider) mints ID tokens with the claims of Bitbucket Pipelines,
GitHub Actions and GitLab; the registry is a `cargohold serve --auth token` of this module
that lets that http:// issuer on 127.0.0.1 in (CARGOHOLD_OIDC_ALLOW_HTTP_ISSUERS and
CARGOHOLD_OIDC_ALLOWED_NETWORKS), with policies made by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backends import free_port
from tests.oidc.provider import RealProvider, real_provider

from ._support import Docker, Proc, registry_serving, run
from .test_docker import file_from_image

pytestmark = pytest.mark.interop

IMAGE = "shop/storefront"
BITBUCKET_REPO = "{9f0c2a4e-52c1-4ad1-9b5a-0d6e3c1f7a10}"
BITBUCKET_DEPLOY = "{5e6f7a8b-1111-4222-8333-944455566677}"
GITHUB = {
    "sub": "repo:shop/storefront:ref:refs/heads/main",
    "repository": "shop/storefront",
    "ref": "refs/heads/main",
    "workflow_ref": "shop/storefront/.github/workflows/image.yml@refs/heads/main",
    "run_id": "4242",
}
BITBUCKET = {
    "sub": f"{BITBUCKET_REPO}:{{1b2c3d4e-0000-4000-8000-000000000001}}",
    "repositoryUuid": BITBUCKET_REPO,
    "branchName": "main",
    "deploymentEnvironmentUuid": BITBUCKET_DEPLOY,
    "pipelineUuid": "{aa00bb11-2222-4333-8444-555566667777}",
}
GITLAB = {
    "sub": "project_path:shop/storefront:ref_type:branch:ref:main",
    "project_path": "shop/storefront",
    "ref": "main",
    "ref_protected": "true",
    "pipeline_id": "77",
}


@dataclass(frozen=True)
class Setup:
    host: str
    data_dir: Path
    provider: RealProvider
    policies: dict[str, str]  # ci system -> policy id

    def cli(self, *args: str, check: bool = True) -> Proc:
        """The CLI, in the server's environment (it checks an issuer's scheme too)."""
        cmd = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(self.data_dir)]
        return run(cmd, timeout=60, check=check, env=ENV)


# The provider is an http:// issuer on 127.0.0.1: the registry lets it in.
ENV = {
    **os.environ,
    "CARGOHOLD_OIDC_ALLOW_HTTP_ISSUERS": "true",
    "CARGOHOLD_OIDC_ALLOWED_NETWORKS": "127.0.0.1/32",
}


def _serve(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "cargohold", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--auth", "token",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=ENV
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The registry, the provider, and what an owner sets up once: a workspace, a
    repository and its package, and a trust policy per CI system."""
    workdir = tmp_path_factory.mktemp("oidc-docker")
    data_dir = workdir / "data"
    port = free_port()
    host = f"127.0.0.1:{port}"
    callback = f"http://{host}/sign-in/sso/callback"
    with real_provider(workdir, callback) as provider:
        setup = Setup(host, data_dir, provider, {})
        setup.cli("user", "create", "lead@example.com")
        setup.cli("workspace", "create", "shop", "--owner", "lead@example.com")
        setup.cli("project", "create", "shop", "WEB")
        setup.cli("repo", "create", "shop/storefront", "--project", "WEB")
        setup.cli("package", "create", IMAGE, "--repo", "storefront")
        common = ["oidc-policy", "create", "shop", "--issuer", provider.url]
        policies = {
            "github": [
                "--audience", "ci-github", "--repo", "storefront", "--role", "write",
                "--claim", "repository=shop/storefront", "--claim", "ref=refs/heads/*",
            ],
            "bitbucket": [
                "--audience", "ci-bitbucket", "--repo", "storefront", "--role", "read",
                "--claim", f"repositoryUuid={BITBUCKET_REPO}", "--claim", "branchName=main",
                "--claim", f"deploymentEnvironmentUuid={BITBUCKET_DEPLOY}",
            ],
            "gitlab": [
                "--audience", "ci-gitlab", "--workspace", "--role", "write",
                "--claim", "project_path=shop/**", "--claim", "ref_protected=true",
                "--lifetime", "5m",
            ],
        }  # fmt: skip
        for system, args in policies.items():
            setup.policies[system] = setup.cli(*common, *args).out.strip()
        log_path = workdir / "server.log"
        process = _serve(data_dir, port, log_path)
        with registry_serving(process, f"http://{host}", log_path):
            yield setup


def login(docker: Docker, host: str, token: str, *, check: bool = True) -> Proc:
    return docker(
        "login", "--username", "oidc", "--password-stdin", host,
        input=f"{token}\n".encode(), check=check,
    )  # fmt: skip


def build(docker: Docker, tmp_path: Path, ref: str, text: str) -> None:
    (tmp_path / "index.html").write_text(text)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY index.html /srv/index.html\n")
    docker("build", "--tag", ref, str(tmp_path), timeout=180)


def test_a_github_actions_job_logs_in_with_its_id_token_and_pushes(
    docker: Docker, setup: Setup, tmp_path: Path
) -> None:
    ci = docker.with_config(tmp_path / "ci-docker")
    token = setup.provider.ci_token("ci-github", GITHUB)
    assert "Login Succeeded" in login(ci, setup.host, token).out
    ref = f"{setup.host}/{IMAGE}:build-42"
    build(ci, tmp_path, ref, "<h1>build 42</h1>\n")
    pushed = ci("image", "push", ref, timeout=180)
    assert "build-42: digest: sha256:" in pushed.out, pushed.describe()
    ci("rmi", ref)


def test_a_bitbucket_deployment_pulls_with_a_read_policy(
    docker: Docker, setup: Setup, tmp_path: Path
) -> None:
    ci = docker.with_config(tmp_path / "ci-docker")
    ref = f"{setup.host}/{IMAGE}:release-1"
    login(ci, setup.host, setup.provider.ci_token("ci-github", GITHUB))
    build(ci, tmp_path, ref, "<h1>release 1</h1>\n")
    ci("image", "push", ref, timeout=180)
    ci("rmi", ref)

    deploy = docker.with_config(tmp_path / "deploy-docker")
    token = setup.provider.ci_token("ci-bitbucket", BITBUCKET)
    assert "Login Succeeded" in login(deploy, setup.host, token).out
    deploy("pull", ref, timeout=180)
    assert file_from_image(deploy, ref, "/srv/index.html") == b"<h1>release 1</h1>\n"
    deploy("rmi", ref)


def test_a_push_with_a_read_policy_is_refused(docker: Docker, setup: Setup, tmp_path: Path) -> None:
    deploy = docker.with_config(tmp_path / "deploy-docker")
    login(deploy, setup.host, setup.provider.ci_token("ci-bitbucket", BITBUCKET))
    ref = f"{setup.host}/{IMAGE}:tampered"
    build(deploy, tmp_path, ref, "<h1>not from CI</h1>\n")
    refused = deploy("image", "push", ref, timeout=180, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "denied" in refused.err, refused.describe()
    deploy("rmi", ref)


def test_a_gitlab_job_pushes_with_a_workspace_policy(
    docker: Docker, setup: Setup, tmp_path: Path
) -> None:
    ci = docker.with_config(tmp_path / "ci-docker")
    login(ci, setup.host, setup.provider.ci_token("ci-gitlab", GITLAB))
    ref = f"{setup.host}/{IMAGE}:gitlab-77"
    build(ci, tmp_path, ref, "<h1>gitlab 77</h1>\n")
    assert "gitlab-77: digest: sha256:" in ci("image", "push", ref, timeout=180).out
    ci("rmi", ref)


def test_a_token_for_another_audience_fails_the_login_with_the_reason(
    docker: Docker, setup: Setup, tmp_path: Path
) -> None:
    ci = docker.with_config(tmp_path / "ci-docker")
    # GitHub's claims in a token for GitLab's audience: no policy accepts both
    token = setup.provider.ci_token("ci-gitlab", GITHUB)
    refused = login(ci, setup.host, token, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "the ID token is refused" in refused.err, refused.describe()
    assert "is not the one the policy expects" in refused.err


def test_a_claim_that_does_not_match_fails_the_login_with_the_reason(
    docker: Docker, setup: Setup, tmp_path: Path
) -> None:
    ci = docker.with_config(tmp_path / "ci-docker")
    token = setup.provider.ci_token("ci-github", {**GITHUB, "repository": "evil/storefront"})
    refused = login(ci, setup.host, token, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "the claim 'repository' is 'evil/storefront'" in refused.err, refused.describe()


def test_a_deleted_policy_no_longer_logs_in(docker: Docker, setup: Setup, tmp_path: Path) -> None:
    made = setup.cli(
        "oidc-policy", "create", "shop", "--issuer", setup.provider.url, "--audience",
        "ci-gitlab", "--repo", "storefront", "--role", "read", "--claim",
        "project_path=shop/short-lived",
    ).out.strip()  # fmt: skip
    ci = docker.with_config(tmp_path / "ci-docker")
    # an unprotected branch: the workspace policy for GitLab does not take it
    claims = {**GITLAB, "project_path": "shop/short-lived", "ref_protected": "false"}
    token = setup.provider.ci_token("ci-gitlab", claims)
    assert "Login Succeeded" in login(ci, setup.host, token).out
    setup.cli("oidc-policy", "delete", made)
    refused = login(ci, setup.host, token, check=False)
    assert refused.returncode != 0, refused.describe()
    assert "the ID token is refused" in refused.err, refused.describe()

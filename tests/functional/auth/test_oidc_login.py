"""Keyless CI: a pipeline logs in with the ID token its CI system issued (user name `oidc`),
and gets registry tokens for exactly what the trust policies that accept it grant.

Each test trusts an issuer of its own (tests/oidc/issuer.py, on 127.0.0.1) in the auth
world (acme/web private, acme/site public), and mints tokens with that issuer's keys, or
with keys and algorithms no provider would use.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cargohold.services.accounts import directory, oidc_policies
from cargohold.services.accounts.oidc_policies import Policy
from cargohold.services.registry import packages
from tests.functional.auth.world import PRIVATE, PUBLIC, PUBLIC_PACKAGES
from tests.functional.registry import Registry
from tests.oidc.issuer import Issuer

GITHUB = {
    "sub": "repo:acme/web:ref:refs/heads/main",
    "repository": "acme/web",
    "ref": "refs/heads/main",
    "workflow_ref": "acme/web/.github/workflows/image.yml@refs/heads/main",
    "environment": "production",
    "run_id": "4242",
}
GITLAB = {
    "sub": "project_path:acme/web:ref_type:branch:ref:main",
    "project_path": "acme/web",
    "ref": "main",
    "ref_protected": "true",
    "pipeline_id": "77",
    "job_id": "991",
}
BITBUCKET = {
    "sub": "{9f0c2a4e-52c1-4ad1-9b5a-0d6e3c1f7a10}:{1b2c3d4e-0000-4000-8000-000000000001}",
    "repositoryUuid": "{9f0c2a4e-52c1-4ad1-9b5a-0d6e3c1f7a10}",
    "branchName": "main",
    "deploymentEnvironmentUuid": "{5e6f7a8b-1111-4222-8333-944455566677}",
    "pipelineUuid": "{aa00bb11-2222-4333-8444-555566667777}",
    "stepUuid": "{1b2c3d4e-0000-4000-8000-000000000001}",
}
CONDITIONS = {
    "github": (GITHUB, {"repository": "acme/web", "ref": "refs/heads/*", "environment": "prod*"}),
    "gitlab": (GITLAB, {"project_path": "acme/**", "ref": "main", "ref_protected": "true"}),
    "bitbucket": (
        BITBUCKET,
        {
            "repositoryUuid": BITBUCKET["repositoryUuid"],
            "branchName": "main",
            "deploymentEnvironmentUuid": BITBUCKET["deploymentEnvironmentUuid"],
        },
    ),
}


async def trust(
    registry: Registry,
    issuer: Issuer,
    *,
    workspace: str = "acme",
    repository: str | None = "web",
    role: str = "write",
    claims: dict[str, str] | None = None,
    audience: str = "cargohold",
    lifetime: str = "10m",
) -> Policy:
    ctx = registry.context
    async with ctx.db.transaction() as tx:
        return await oidc_policies.create_policy(
            tx,
            ctx.settings,
            workspace=workspace,
            repository=repository,
            issuer=issuer.url,
            audience=audience,
            claims=claims or {"repository": "acme/web"},
            role=role,
            lifetime=lifetime,
            created_by=None,
            now=ctx.now(),
        )


def oidc(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"oidc:{token}".encode()).decode()}


async def login(registry: Registry, token: str, *scopes: str, **params: str) -> httpx.Response:
    query = [("service", "cargohold"), *(("scope", s) for s in scopes), *params.items()]
    return await registry.client.get("/token", params=query, headers=oidc(token))


def granted(registry: Registry, answer: httpx.Response) -> dict[str, list[str]]:
    """What a registry token carries: package -> actions."""
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(
        answer.json()["token"],
        registry.context.public_key,
        algorithms=["EdDSA"],
        audience="cargohold",
    )
    return {entry["name"]: entry["actions"] for entry in claims["access"]}


def refusal(answer: httpx.Response) -> str:
    assert answer.status_code == 401, answer.text
    message: str = answer.json()["error_description"]
    return message


async def events(registry: Registry, action: str = "oidc.exchanged") -> list[dict[str, Any]]:
    rows = await registry.context.db.fetchall(
        "SELECT outcome, workspace, repository, actor_kind, actor_name, target, data FROM events"
        " WHERE action = :a ORDER BY id",
        {"a": action},
    )
    return [{**row, "data": json.loads(row["data"] or "{}")} for row in rows]


PUSH = f"repository:{PRIVATE}:pull,push"


# --- what a pipeline gets


async def test_docker_login_with_an_id_token_succeeds_when_a_policy_accepts_it(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    answer = await login(registry, issuer.mint(GITHUB), account="oidc", client_id="docker")
    assert granted(registry, answer) == {}


async def test_a_write_policy_grants_pull_and_push_on_its_repository_for_its_lifetime(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, role="write", lifetime="10m")
    answer = await login(registry, issuer.mint(GITHUB), PUSH)
    assert granted(registry, answer) == {PRIVATE: ["pull", "push"]}
    assert answer.json()["expires_in"] == 600


async def test_a_read_policy_grants_pull_only(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer, role="read")
    answer = await login(registry, issuer.mint(GITHUB), PUSH)
    assert granted(registry, answer) == {PRIVATE: ["pull"]}


async def test_a_workspace_policy_grants_every_repository_of_the_workspace(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, repository=None, role="admin")
    answer = await login(registry, issuer.mint(GITHUB), PUSH, f"repository:{PUBLIC}:push")
    assert granted(registry, answer) == {PRIVATE: ["pull", "push"], PUBLIC: ["push"]}


async def test_a_repository_policy_grants_nothing_on_another_repository(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, role="admin")
    answer = await login(registry, issuer.mint(GITHUB), f"repository:{PUBLIC}:pull,push")
    assert granted(registry, answer) == {PUBLIC: ["pull"]}  # public read, as for anyone


async def test_a_token_of_several_policies_lists_every_granted_package_in_the_catalog(
    registry: Registry, issuer: Issuer
) -> None:
    ctx = registry.context
    async with ctx.db.transaction() as tx:
        api = await directory.create_repository(
            tx, full_name="acme/api", project_key="PLAT", now=ctx.now()
        )
        await packages.create_package(tx, name="acme/api", repository=api, now=ctx.now())
    await trust(registry, issuer, repository="web", role="read")
    await trust(registry, issuer, repository="api", role="read")
    answer = await login(registry, issuer.mint(GITHUB), "registry:catalog:*")
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['token']}"}

    listing = await registry.client.get("/v2/_catalog", headers=bearer)

    assert listing.status_code == 200, listing.text
    assert listing.json()["repositories"] == sorted(["acme/api", PRIVATE, *PUBLIC_PACKAGES])


@pytest.mark.parametrize("system", sorted(CONDITIONS))
async def test_the_claims_of_each_ci_system_match_a_policy_on_them(
    registry: Registry, issuer: Issuer, system: str
) -> None:
    claims, conditions = CONDITIONS[system]
    await trust(registry, issuer, claims=conditions)
    answer = await login(registry, issuer.mint(claims), PUSH)
    assert granted(registry, answer) == {PRIVATE: ["pull", "push"]}


async def test_a_glob_star_stays_within_one_path_segment(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, claims={"repository": "acme/web", "ref": "refs/heads/*"})
    feature = issuer.mint({**GITHUB, "ref": "refs/heads/feature/x"})
    assert "the claim 'ref' is 'refs/heads/feature/x'" in refusal(await login(registry, feature))


async def test_basic_credentials_with_an_id_token_work_on_v2(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, role="read")
    answer = await registry.client.get(
        f"/v2/{PRIVATE}/tags/list", headers=oidc(issuer.mint(GITHUB))
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["tags"] == ["v1"]


async def test_basic_credentials_with_an_id_token_push_only_with_write(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, role="read")
    answer = await registry.client.post(
        f"/v2/{PRIVATE}/blobs/uploads/", headers=oidc(issuer.mint(GITHUB))
    )
    assert answer.status_code == 403, answer.text
    assert "it needs write" in answer.json()["errors"][0]["message"]


async def test_a_pipeline_gets_no_refresh_token(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer)
    answer = await login(registry, issuer.mint(GITHUB), PUSH, offline_token="true")
    assert answer.status_code == 200, answer.text
    assert "refresh_token" not in answer.json()


async def test_an_access_token_still_logs_in_with_the_user_name_oidc(
    registry: Registry, world: Any
) -> None:
    robot = world.credential("robot", "write")
    answer = await login(registry, robot.secret, PUSH)
    assert granted(registry, answer) == {PRIVATE: ["pull", "push"]}


# --- the exchange endpoint, for tools that do not speak the docker token flow


async def test_the_exchange_endpoint_grants_every_package_the_policies_cover(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, role="write")
    answer = await registry.client.post(
        "/api/v1/oidc/exchange", json={"token": issuer.mint(GITHUB)}
    )
    assert granted(registry, answer) == {PRIVATE: ["delete", "pull", "push"]}
    assert answer.json()["expires_in"] == 600
    assert answer.headers["cache-control"] == "no-store"


async def test_the_exchange_endpoint_grants_what_the_scopes_ask_within_the_policies(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, role="read")
    body = {"token": issuer.mint(GITHUB), "scope": [PUSH]}
    answer = await registry.client.post("/api/v1/oidc/exchange", json=body)
    assert granted(registry, answer) == {PRIVATE: ["pull"]}


async def test_the_exchange_endpoint_answers_a_refused_token_with_401_problem_json(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    body = {"token": issuer.mint({**GITHUB, "repository": "acme/api"})}
    answer = await registry.client.post("/api/v1/oidc/exchange", json=body)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert "the claim 'repository' is 'acme/api'" in answer.json()["detail"]


async def test_the_exchange_endpoint_takes_no_api_token(registry: Registry, world: Any) -> None:
    body = {"token": world.credential("owner").secret}
    answer = await registry.client.post("/api/v1/oidc/exchange", json=body)
    assert answer.status_code == 401
    assert "not an ID token" in answer.json()["detail"]


# --- refused, each with a clear reason


async def test_a_token_for_another_audience_is_refused(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer, audience="cargohold")
    token = issuer.mint(GITHUB, audience="https://github.com/acme")
    message = refusal(await login(registry, token, PUSH))
    assert "audience ('https://github.com/acme') is not the one the policy expects" in message


async def test_a_token_of_another_issuer_is_refused(
    registry: Registry, issuer: Issuer, oidc_server: Any
) -> None:
    await trust(registry, issuer)
    other = oidc_server.issuer()
    message = refusal(await login(registry, other.mint(GITHUB), PUSH))
    assert f"no trust policy accepts tokens of the issuer '{other.url}'" in message


async def test_a_token_naming_a_trusted_issuer_but_signed_elsewhere_is_refused(
    registry: Registry, issuer: Issuer, oidc_server: Any
) -> None:
    await trust(registry, issuer)
    other = oidc_server.issuer()
    forged = other.mint(GITHUB, issuer=issuer.url)  # claims to be `issuer`, kid main
    message = refusal(await login(registry, forged, PUSH))
    assert f"signature does not verify with the keys of {issuer.url}" in message


async def test_an_expired_token_is_refused(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer)
    token = issuer.mint(GITHUB, issued_at=time.time() - 900, lifetime=600)
    message = refusal(await login(registry, token, PUSH))
    assert "the token expired at" in message
    assert "ask for a fresh one" in message


async def test_a_token_not_yet_valid_is_refused(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer)
    token = issuer.mint({**GITHUB, "nbf": int(time.time()) + 600})
    assert "the token is not valid yet" in refusal(await login(registry, token, PUSH))


async def test_a_token_issued_in_the_future_is_refused(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer)
    token = issuer.mint(GITHUB, issued_at=time.time() + 600)
    assert "issued in the future" in refusal(await login(registry, token, PUSH))


@pytest.mark.settings(oidc_max_token_age=3600)
async def test_a_token_older_than_the_maximum_age_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    token = issuer.mint(GITHUB, issued_at=time.time() - 7200, lifetime=86400)
    assert "more than 3600 s ago" in refusal(await login(registry, token, PUSH))


async def test_a_token_signed_with_a_key_the_issuer_does_not_publish_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    issuer.add_key("secret-key", published=False)
    token = issuer.mint(GITHUB, kid="secret-key")
    message = refusal(await login(registry, token, PUSH))
    assert f"key id 'secret-key' is not among the keys {issuer.url} publishes" in message


async def test_an_unsigned_token_is_refused(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer)
    message = refusal(await login(registry, issuer.unsigned(GITHUB), PUSH))
    assert "not signed (alg none)" in message


async def test_an_hs256_token_keyed_with_the_issuers_public_key_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    token = issuer.hs256_with_public_key(GITHUB)
    message = refusal(await login(registry, token, PUSH))
    assert "signed with HS256, a shared secret" in message


async def test_a_token_whose_claim_does_not_match_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    policy = await trust(registry, issuer, claims={"repository": "acme/web"})
    token = issuer.mint({**GITHUB, "repository": "evil/web"})
    message = refusal(await login(registry, token, PUSH))
    assert f"policy {policy.id}: the claim 'repository' is 'evil/web'" in message


async def test_a_token_lacking_a_claim_the_policy_checks_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, claims={"environment": "production"})
    token = issuer.mint({"repository": "acme/web"})
    assert "the token has no 'environment' claim" in refusal(await login(registry, token, PUSH))


async def test_a_token_of_a_deleted_policy_is_refused(registry: Registry, issuer: Issuer) -> None:
    policy = await trust(registry, issuer)
    token = issuer.mint(GITHUB)
    assert (await login(registry, token, PUSH)).status_code == 200
    async with registry.context.db.transaction() as tx:
        await oidc_policies.delete_policy(tx, policy.id)
    message = refusal(await login(registry, token, PUSH))
    assert f"no trust policy accepts tokens of the issuer '{issuer.url}'" in message


async def test_a_token_accepted_by_a_policy_of_another_workspace_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer, workspace="globex", repository="app", claims={"sub": "*:*"})
    message = refusal(await login(registry, issuer.mint(GITHUB), PUSH))
    assert "no trust policy of workspace 'acme' accepts tokens of the issuer" in message


# --- the issuer's keys


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "PS256"])
async def test_tokens_signed_with_elliptic_curve_and_pss_keys_are_accepted(
    registry: Registry, oidc_server: Any, algorithm: str
) -> None:
    issuer = oidc_server.issuer(algorithm=algorithm)
    await trust(registry, issuer)
    assert granted(registry, await login(registry, issuer.mint(GITHUB), PUSH))


async def test_the_keys_are_fetched_once_for_many_logins(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    for run in range(3):
        answer = await login(registry, issuer.mint({**GITHUB, "run_id": str(run)}), PUSH)
        assert answer.status_code == 200, answer.text
    assert issuer.fetches.count("/jwks") == 1
    assert issuer.fetches.count("/.well-known/openid-configuration") == 1


async def test_a_new_key_id_fetches_the_keys_again_and_is_accepted(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    assert (await login(registry, issuer.mint(GITHUB), PUSH)).status_code == 200
    issuer.add_key("rotated")
    answer = await login(registry, issuer.mint(GITHUB, kid="rotated"), PUSH)
    assert answer.status_code == 200, answer.text
    assert issuer.fetches.count("/jwks") == 2


async def test_unknown_key_ids_fetch_the_keys_again_at_most_once_per_interval(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    assert (await login(registry, issuer.mint(GITHUB), PUSH)).status_code == 200
    issuer.add_key("never-shown", published=False)
    for _ in range(5):
        token = issuer.mint(GITHUB, kid="never-shown")
        assert (await login(registry, token, PUSH)).status_code == 401
    assert issuer.fetches.count("/jwks") == 2


async def test_a_token_without_a_key_id_is_checked_against_each_key_for_its_algorithm(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    answer = await login(registry, issuer.mint(GITHUB, kid=None), PUSH)
    assert granted(registry, answer) == {PRIVATE: ["pull", "push"]}


# --- the outbound guard


@pytest.mark.settings(oidc_allowed_networks=[])
async def test_an_issuer_on_a_loopback_address_is_not_fetched_without_an_allowed_network(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    message = refusal(await login(registry, issuer.mint(GITHUB), PUSH))
    assert "127.0.0.1 is a loopback address, which outbound requests may not reach" in message
    assert issuer.fetches == []


async def test_a_discovery_document_naming_another_issuer_is_refused(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    issuer.discovery_issuer = "https://accounts.example.com"
    message = refusal(await login(registry, issuer.mint(GITHUB), PUSH))
    assert "names another issuer ('https://accounts.example.com')" in message


async def test_a_redirect_from_the_issuer_is_not_followed(
    registry: Registry, issuer: Issuer, oidc_server: Any
) -> None:
    await trust(registry, issuer)
    elsewhere = oidc_server.issuer()
    oidc_server.answers[f"/{issuer.name}/.well-known/openid-configuration"] = (
        302,
        b"",
        {"Location": f"{elsewhere.url}/.well-known/openid-configuration"},
    )
    message = refusal(await login(registry, issuer.mint(GITHUB), PUSH))
    assert "answered a redirect, which is not followed" in message
    assert elsewhere.fetches == []


# --- the audit log


async def test_each_login_is_recorded_with_the_policy_and_the_pipelines_identity(
    registry: Registry, issuer: Issuer
) -> None:
    policy = await trust(registry, issuer)
    assert (await login(registry, issuer.mint(GITHUB), PUSH)).status_code == 200
    [event] = await events(registry)
    assert event["outcome"] == "ok"
    assert event["workspace"] == "acme"
    assert event["repository"] == PRIVATE
    assert event["actor_kind"] == "token"
    assert event["actor_name"] == "oidc: acme/web@refs/heads/main run 4242"
    assert event["data"] == {
        "policy": policy.id,
        "issuer": issuer.url,
        "subject": GITHUB["sub"],
        "role": "write",
        "lifetime": 600,
        "repository": "acme/web",
        "branch": "refs/heads/main",
        "run": "4242",
        "environment": "production",
        "workflow": GITHUB["workflow_ref"],
    }


async def test_a_token_used_again_is_recorded_once(registry: Registry, issuer: Issuer) -> None:
    await trust(registry, issuer)
    token = issuer.mint(GITHUB)
    for _ in range(3):
        await registry.client.get(f"/v2/{PRIVATE}/tags/list", headers=oidc(token))
    assert len(await events(registry)) == 1


async def test_a_refused_genuine_token_is_recorded_as_refused(
    registry: Registry, issuer: Issuer
) -> None:
    policy = await trust(registry, issuer)
    token = issuer.mint(BITBUCKET)
    assert (await login(registry, token, PUSH)).status_code == 401
    [event] = await events(registry)
    assert event["outcome"] == "refused"
    assert event["workspace"] == "acme"
    assert event["data"]["reasons"] == {policy.id: "the token has no 'repository' claim"}
    assert event["data"]["branch"] == "main"


async def test_a_forged_token_is_refused_without_a_record(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    assert (await login(registry, issuer.unsigned(GITHUB), PUSH)).status_code == 401
    issuer.add_key("secret-key", published=False)
    assert (await login(registry, issuer.mint(GITHUB, kid="secret-key"), PUSH)).status_code == 401
    assert await events(registry) == []


@pytest.mark.parametrize("via", ["basic", "bearer"])
async def test_what_a_pipeline_changes_is_recorded_as_done_by_it(
    registry: Registry, issuer: Issuer, via: str
) -> None:
    policy = await trust(registry, issuer, role="write")
    token = issuer.mint(GITHUB)
    headers = oidc(token)
    if via == "bearer":
        answer = await login(registry, token, f"repository:{PRIVATE}:delete")
        headers = {"Authorization": f"Bearer {answer.json()['token']}"}
    deleted = await registry.client.delete(f"/v2/{PRIVATE}/manifests/v1", headers=headers)
    assert deleted.status_code == 202, deleted.text
    [event] = await registry.context.db.fetchall(
        "SELECT actor_kind, actor_id, actor_name FROM events WHERE action = 'tag.deleted'"
    )
    assert dict(event) == {
        "actor_kind": "token",
        "actor_id": f"oidc:{policy.id}",
        "actor_name": "acme/web@refs/heads/main run 4242 (OpenID Connect)",
    }


METRICS_TOKEN = "metrics-token-" + "o" * 20


async def logins_counted(registry: Registry, outcome: str) -> float:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    response = await registry.client.get("/metrics", headers=headers)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = {"credential": "oidc", "outcome": outcome}
            if sample.name == "cargohold_logins_total" and sample.labels == labels:
                return float(sample.value)
    return 0.0


@pytest.mark.settings(metrics_token=METRICS_TOKEN)
async def test_id_token_logins_are_counted_apart_from_passwords(
    registry: Registry, issuer: Issuer
) -> None:
    await trust(registry, issuer)
    accepted = await logins_counted(registry, "accepted")
    refused = await logins_counted(registry, "refused")
    assert (await login(registry, issuer.mint(GITHUB), PUSH)).status_code == 200
    assert (await login(registry, issuer.unsigned(GITHUB), PUSH)).status_code == 401
    assert await logins_counted(registry, "accepted") == accepted + 1
    assert await logins_counted(registry, "refused") == refused + 1

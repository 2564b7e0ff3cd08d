"""Every case of the authorization matrix (see matrix.py) through the app."""

from __future__ import annotations

import pytest

from tests.functional.auth import matrix as oidc_matrix
from tests.functional.auth.matrix import (
    AUDIT_PATHS,
    AUDIT_READS,
    MANAGES,
    MIRROR_OPERATIONS,
    OPERATIONS,
    REPLICATION_OPERATIONS,
    WEBHOOK_OPERATIONS,
    WEBHOOK_TARGETS,
    Caller,
    WebhookCaller,
    audit_callers,
    audit_headers,
    caller_headers,
    callers,
    check,
    check_mirror_effect,
    check_replication_effect,
    check_webhook_effect,
    expected,
    mirror_expected,
    mirror_setup,
    observer,
    perform,
    perform_mirror,
    perform_replication,
    perform_webhook,
    replication_expected,
    replication_setup,
    webhook_callers,
    webhook_expected,
    webhook_headers,
    webhook_setup,
)
from tests.functional.auth.world import PRIVATE, VAULT, World
from tests.functional.registry import Registry, digest_of

CASES = [(caller, operation) for caller in callers() for operation in OPERATIONS]


@pytest.mark.parametrize(
    ("caller", "operation"),
    CASES,
    ids=[f"{caller.id}-{operation}" for caller, operation in CASES],
)
async def test_matrix(registry: Registry, world: World, caller: Caller, operation: str) -> None:
    headers = await caller_headers(registry.client, world, caller)
    response = await perform(registry.client, world, caller.target, operation, headers)
    await check(registry.client, world, caller, operation, response)


POLICY_CASES = [
    (who, scope, operation)
    for who, scope in oidc_matrix.policy_callers()
    for operation in oidc_matrix.POLICY_OPERATIONS
]


@pytest.mark.parametrize(
    ("who", "scope", "operation"),
    POLICY_CASES,
    ids=[f"{who}-{scope}-{operation}" for who, scope, operation in POLICY_CASES],
)
async def test_trust_policy_matrix(
    registry: Registry, world: World, who: str, scope: str | None, operation: str
) -> None:
    """The trust policy endpoints answer each caller as the table says, and a refused change
    changes nothing."""
    ctx = registry.context
    made = await oidc_matrix.trust_policy_setup(ctx)
    count = "SELECT COUNT(*) AS n FROM oidc_policies"
    before = (await ctx.db.fetchone(count))["n"]
    headers = oidc_matrix.policy_headers(world, who, scope)
    response = await oidc_matrix.perform_policy(registry.client, operation, made, headers)
    status = oidc_matrix.policy_expected(who, scope, operation)
    assert response.status_code == status, response.text
    after = (await ctx.db.fetchone(count))["n"]
    change = {"create_repository": 1, "create_workspace": 1, "delete": -1}.get(operation, 0)
    assert after - before == (change if status < 400 else 0)
    if operation == "list" and status == 200:
        assert made in {item["id"] for item in response.json()["items"]}


@pytest.mark.parametrize("via", ["token", "jwt"])
async def test_mount_from_an_unreadable_package_reveals_nothing(
    registry: Registry, world: World, via: str
) -> None:
    """Mounting a blob the caller may not read answers exactly like mounting a blob that
    exists nowhere: an upload session starts, and the blob stays out of the package."""
    caller = Caller("write", via, "write", PRIVATE)
    headers = await caller_headers(registry.client, world, caller)
    unknown = digest_of(b"exists nowhere")
    attempts = {
        "secret-from-its-package": {"mount": world.secret_blob, "from": VAULT},
        "unknown-from-that-package": {"mount": unknown, "from": VAULT},
        "secret-from-a-missing-package": {"mount": world.secret_blob, "from": "initech/nope"},
        "secret-without-from": {"mount": world.secret_blob},
        "unknown-without-from": {"mount": unknown},
    }
    answers = {}
    for label, params in attempts.items():
        response = await registry.client.post(
            f"/v2/{PRIVATE}/blobs/uploads/", params=params, headers=headers
        )
        assert response.status_code == 202, (label, response.text)
        location = response.headers["location"]
        assert location.startswith(f"/v2/{PRIVATE}/blobs/uploads/"), (label, location)
        answers[label] = (
            sorted(k for k in response.headers if k != "docker-upload-uuid"),
            response.headers["range"],
            response.content,
        )
    assert len({repr(answer) for answer in answers.values()}) == 1, answers
    status = await observer(registry.client, world, PRIVATE)
    assert await status(f"/v2/{PRIVATE}/blobs/{world.secret_blob}") == 404


# What a /v2 change records: the event of an allowed change names its caller; a refused
# change records nothing (docs/audit.md).
EVENTS = {
    "push_manifest": "manifest.pushed",
    "delete_tag": "tag.deleted",
    "delete_manifest": "manifest.deleted",
    "delete_blob": "blob.deleted",
}
CHANGES = [(caller, operation) for caller in callers() for operation in EVENTS]


ACTORS = ("none", "read", "write", "admin", "owner", "other", "site_admin", "robot", "robot_ws")


def _actor(caller: Caller, world: World) -> tuple[str, str | None]:
    """The actor kind and name the event of this caller's change names."""
    if caller.who in ("robot", "robot_ws"):
        return "token", f"ci {caller.scope}"
    return "user", world.credential(caller.who, caller.scope or "admin").username


@pytest.mark.parametrize(
    ("caller", "operation"),
    CHANGES,
    ids=[f"{caller.id}-{operation}" for caller, operation in CHANGES],
)
async def test_a_change_leaves_its_event_and_a_refusal_none(
    registry: Registry, world: World, caller: Caller, operation: str
) -> None:
    db = registry.context.db
    newest = await db.fetchone("SELECT MAX(id) AS id FROM events")
    assert newest is not None
    headers = await caller_headers(registry.client, world, caller)
    await perform(registry.client, world, caller.target, operation, headers)
    rows = await db.fetchall(
        "SELECT action, package, actor_kind, actor_name FROM events WHERE id > :id",
        {"id": newest["id"]},
    )
    found = [tuple(row) for row in rows if row["action"] in EVENTS.values()]
    if expected(caller, operation).status >= 400:
        assert found == []
    elif caller.who in ACTORS:
        assert found == [(EVENTS[operation], caller.target, *_actor(caller, world))]
    else:  # callers of other kinds: the event, whoever it names
        assert [row[:2] for row in found] == [(EVENTS[operation], caller.target)]


AUDIT_CASES = [(who, scope, endpoint) for who, scope in audit_callers() for endpoint in AUDIT_PATHS]


@pytest.mark.parametrize(
    ("who", "scope", "endpoint"),
    AUDIT_CASES,
    ids=[f"{who}-{scope or 'any'}-{endpoint}" for who, scope, endpoint in AUDIT_CASES],
)
async def test_audit_log_readers(
    registry: Registry, world: World, who: str, scope: str | None, endpoint: str
) -> None:
    response = await registry.client.get(
        AUDIT_PATHS[endpoint], headers=audit_headers(world, who, scope)
    )
    assert response.status_code == AUDIT_READS[endpoint][who], response.text
    if response.status_code == 200:
        items = response.json()["items"]
        assert items
        if endpoint == "workspace_audit":
            assert {item["workspace"] for item in items} == {"acme"}


WEBHOOK_CASES = [
    (caller, operation, target)
    for caller in webhook_callers()
    for operation in WEBHOOK_OPERATIONS
    for target in (
        ("all",) if operation in ("list", "create_all", "create_web") else WEBHOOK_TARGETS
    )
]


@pytest.mark.settings(webhook_allowed_networks=["127.0.0.0/8"])
@pytest.mark.parametrize(
    ("caller", "operation", "target"),
    WEBHOOK_CASES,
    ids=[f"{caller.id}-{operation}-{target}" for caller, operation, target in WEBHOOK_CASES],
)
async def test_webhook_matrix(
    registry: Registry, world: World, caller: WebhookCaller, operation: str, target: str
) -> None:
    """The webhook endpoints of the management API answer each caller as the table says,
    and a refused change changes nothing."""
    ctx = registry.context
    made = await webhook_setup(ctx)
    [ping] = await ctx.db.fetchall(
        "SELECT id FROM webhook_deliveries WHERE webhook_id = :w", {"w": made[target]}
    )
    headers = webhook_headers(world, caller)
    response = await perform_webhook(
        registry.client, operation, made[target], int(ping["id"]), headers
    )
    status = webhook_expected(caller, operation, target)
    assert response.status_code == status, response.text
    await check_webhook_effect(ctx, operation, made[target], status < 400)
    if operation == "list" and status == 200:
        listed = {item["id"] for item in response.json()["items"]}
        assert listed == {made[t] for t in MANAGES[caller.who]}


REPLICATION_CASES = [
    (caller, operation, target)
    for caller in webhook_callers()
    for operation in REPLICATION_OPERATIONS
    for target in (
        ("all",) if operation in ("list", "create_all", "create_web") else WEBHOOK_TARGETS
    )
]


@pytest.mark.settings(replication_allowed_networks=["127.0.0.0/8"])
@pytest.mark.parametrize(
    ("caller", "operation", "target"),
    REPLICATION_CASES,
    ids=[f"{caller.id}-{operation}-{target}" for caller, operation, target in REPLICATION_CASES],
)
async def test_replication_matrix(
    registry: Registry, world: World, caller: WebhookCaller, operation: str, target: str
) -> None:
    """The replication endpoints of the management API answer each caller as the table
    says (the webhooks' people), and a refused change changes nothing."""
    ctx = registry.context
    made = await replication_setup(ctx)
    [job] = await ctx.db.fetchall(
        "SELECT id FROM replication_jobs WHERE replication_id = :r", {"r": made[target]}
    )
    headers = webhook_headers(world, caller)
    response = await perform_replication(
        registry.client, operation, made[target], int(job["id"]), headers
    )
    status = replication_expected(caller, operation, target)
    assert response.status_code == status, response.text
    await check_replication_effect(ctx, operation, made[target], status < 400)
    if operation == "list" and status == 200:
        listed = {item["id"] for item in response.json()["items"]}
        assert listed == {made[t] for t in MANAGES[caller.who]}


MIRROR_CASES = [
    (caller, operation) for caller in webhook_callers() for operation in MIRROR_OPERATIONS
]


@pytest.mark.settings(mirror_allowed_networks=["127.0.0.0/8"])
@pytest.mark.parametrize(
    ("caller", "operation"),
    MIRROR_CASES,
    ids=[f"{caller.id}-{operation}" for caller, operation in MIRROR_CASES],
)
async def test_mirror_matrix(
    registry: Registry, world: World, caller: WebhookCaller, operation: str
) -> None:
    """The mirror endpoints of the management API answer each caller as the table says, and
    a refused change changes nothing."""
    ctx = registry.context
    await mirror_setup(ctx)
    response = await perform_mirror(registry.client, operation, webhook_headers(world, caller))
    status = mirror_expected(caller, operation)
    assert response.status_code == status, response.text
    await check_mirror_effect(ctx, operation, status < 400)

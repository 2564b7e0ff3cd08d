"""`cargohold oidc-policy` commands: trust policies for keyless CI logins with OpenID
Connect ID tokens (docs/ci.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cargohold.authz.claims import parse_condition
from cargohold.authz.errors import ClaimConditionInvalid
from cargohold.cli.common import run
from cargohold.cli.options import ConfigOption, DataDirOption
from cargohold.metadata.db import Queries
from cargohold.services.accounts import directory, oidc_policies
from cargohold.services.context import Context
from cargohold.services.errors import Invalid

app = typer.Typer(
    no_args_is_help=True, help="Trust policies: CI pipelines log in with OpenID Connect."
)


def _conditions(claims: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for text in claims:
        try:
            name, pattern = parse_condition(text)
        except ClaimConditionInvalid as exc:
            raise Invalid(str(exc)) from None
        if name in found:
            raise Invalid(f"the claim {name!r} is named twice")
        found[name] = pattern
    return found


@app.command("create")
def policy_create(
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
    issuer: Annotated[
        str, typer.Option("--issuer", help="The provider's issuer URL, as tokens name it (iss).")
    ],
    audience: Annotated[str, typer.Option("--audience", help="The aud tokens must carry.")],
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")],
    claim: Annotated[
        list[str] | None,
        typer.Option(
            "--claim",
            help="NAME=VALUE: a claim condition, an exact value or a glob (* within a /"
            " segment, ** across them); repeatable.",
        ),
    ] = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="The repository (its slug) it grants on.")
    ] = None,
    whole_workspace: Annotated[
        bool, typer.Option("--workspace", help="Grant on every repository of the workspace.")
    ] = False,
    lifetime: Annotated[
        str, typer.Option("--lifetime", help="Registry token lifetime: 1m to 1h.")
    ] = "15m",
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a trust policy; prints only its id."""
    if (repo is None) == (not whole_workspace):
        typer.secho("error: give either --repo REPO or --workspace", fg="red", err=True)
        raise typer.Exit(2)

    async def use_case(ctx: Context, tx: Queries) -> str:
        policy = await oidc_policies.create_policy(
            tx,
            ctx.settings,
            workspace=workspace,
            repository=repo,
            issuer=issuer,
            audience=audience,
            claims=_conditions(claim or []),
            role=role,
            lifetime=lifetime,
            created_by=None,
            now=ctx.now(),
        )
        return policy.id

    typer.echo(run(config, data_dir, use_case))


@app.command("list")
def policy_list(
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The trust policies of a workspace."""

    async def use_case(ctx: Context, tx: Queries) -> list[oidc_policies.Policy]:
        workspace_id = await directory.find_workspace(tx, workspace)
        return await oidc_policies.list_policies(tx, workspace_id=workspace_id)

    for policy in run(config, data_dir, use_case):
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "id": policy.id,
                        "repository": policy.repository,
                        "issuer": policy.issuer,
                        "audience": policy.audience,
                        "claims": policy.claims,
                        "role": policy.role.label,
                        "lifetime": policy.lifetime,
                    },
                    sort_keys=True,
                )
            )
            continue
        conditions = " ".join(f"{k}={v}" for k, v in sorted(policy.claims.items()))
        typer.echo(
            f"{policy.id}  {policy.role.label} on {policy.target}  {policy.issuer}"
            f"  aud={policy.audience}  {conditions}  {policy.lifetime}s"
        )


@app.command("delete")
def policy_delete(
    policy_id: Annotated[str, typer.Argument(metavar="ID")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete a trust policy: its tokens no longer log in."""

    async def use_case(ctx: Context, tx: Queries) -> None:
        await oidc_policies.delete_policy(tx, policy_id)

    run(config, data_dir, use_case)

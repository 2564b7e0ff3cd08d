"""The account commands work exactly as the documentation writes them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cargohold.authz.roles import Role
from cargohold.cli.main import app
from cargohold.config import Settings
from cargohold.services.accounts import directory, logins, principals, sessions
from cargohold.services.context import open_context

runner = CliRunner()


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(data_dir: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 1, result.output
    return result.output


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    cli(data, "user", "create", "alice@example.com", "--admin", "--password-stdin",
        stdin="correct horse battery\n")  # fmt: skip
    cli(data, "user", "create", "bob@example.com")
    cli(data, "workspace", "create", "acme", "--owner", "alice@example.com")
    cli(data, "project", "create", "acme", "PLAT", "--name", "Platform")
    cli(data, "repo", "create", "acme/web", "--project", "PLAT")
    cli(data, "repo", "grant", "acme/web", "bob@example.com", "write")
    cli(data, "package", "create", "acme/web", "--repo", "web")
    return data


def role_of(data_dir: Path, email: str, token: str, package: str) -> Role:
    async def check() -> Role:
        ctx = open_context(Settings(data_dir=data_dir))
        try:
            principal = await logins.authenticate(ctx, username=email, secret=token, address=None)
            return (await principals.package_access(ctx.db, principal, package)).role
        finally:
            await ctx.db.close()

    return asyncio.run(check())


def test_token_create_prints_only_the_token(data_dir: Path) -> None:
    out = cli(data_dir, "token", "create", "bob@example.com", "--name", "ci", "--scope",
              "read:package", "--scope", "write:package", "--expires", "30d")  # fmt: skip
    assert out.count("\n") == 1
    assert out.startswith("chp_")


def test_a_token_acts_with_the_users_role_capped_by_its_scopes(data_dir: Path) -> None:
    write = cli(data_dir, "token", "create", "bob@example.com", "--name", "w",
                "--scope", "write:package").strip()  # fmt: skip
    read = cli(data_dir, "token", "create", "bob@example.com", "--name", "r",
               "--scope", "read:package").strip()  # fmt: skip
    admin = cli(data_dir, "token", "create", "bob@example.com", "--name", "a",
                "--scope", "admin:package").strip()  # fmt: skip
    assert role_of(data_dir, "bob@example.com", write, "acme/web") == Role.WRITE
    assert role_of(data_dir, "bob@example.com", read, "acme/web") == Role.READ
    assert role_of(data_dir, "bob@example.com", admin, "acme/web") == Role.WRITE


def test_workspace_owner_is_admin_of_its_packages(data_dir: Path) -> None:
    token = cli(data_dir, "token", "create", "alice@example.com", "--name", "a",
                "--scope", "admin:package").strip()  # fmt: skip
    assert role_of(data_dir, "alice@example.com", token, "acme/web") == Role.ADMIN


def test_access_token_acts_on_its_repository(data_dir: Path) -> None:
    token = cli(data_dir, "token", "create-access", "acme/web", "--name", "ci",
                "--scope", "write:package").strip()  # fmt: skip
    assert token.startswith("cha_")
    assert role_of(data_dir, "anything", token, "acme/web") == Role.WRITE


def test_unknown_scope_is_refused_with_the_valid_ones_named(data_dir: Path) -> None:
    out = fails(data_dir, "token", "create", "bob@example.com", "--name", "x",
                "--scope", "push")  # fmt: skip
    assert "admin:package, read:package, write:package" in out


def test_tokens_must_expire_unless_the_site_allows_otherwise(data_dir: Path) -> None:
    out = fails(data_dir, "token", "create", "bob@example.com", "--name", "x",
                "--scope", "read:package", "--expires", "never")  # fmt: skip
    assert "requires tokens to expire" in out
    out = fails(data_dir, "token", "create", "bob@example.com", "--name", "x",
                "--scope", "read:package", "--expires", "2y")  # fmt: skip
    assert "at most 365 days" in out


def test_package_must_be_in_the_repositorys_workspace(data_dir: Path) -> None:
    cli(data_dir, "user", "create", "carol@example.com")
    cli(data_dir, "workspace", "create", "other", "--owner", "carol@example.com")
    out = fails(data_dir, "package", "create", "other/web", "--repo", "acme/web")
    assert "must be named acme/NAME" in out


def test_duplicates_and_unknown_names_are_clear_errors(data_dir: Path) -> None:
    assert "already exists" in fails(data_dir, "workspace", "create", "acme",
                                     "--owner", "alice@example.com")  # fmt: skip
    assert "no user" in fails(data_dir, "repo", "grant", "acme/web", "zed@example.com", "read")
    assert "unknown role" in fails(data_dir, "repo", "grant", "acme/web", "bob@example.com", "boss")
    assert "no repository" in fails(data_dir, "package", "create", "acme/api", "--repo", "api")


def test_revoked_tokens_stop_working_at_once(data_dir: Path) -> None:
    token = cli(data_dir, "token", "create", "bob@example.com", "--name", "r",
                "--scope", "read:package").strip()  # fmt: skip
    token_id = token.split("_")[1]
    cli(data_dir, "token", "revoke", token_id)
    with pytest.raises(logins.LoginFailed):
        role_of(data_dir, "bob@example.com", token, "acme/web")


def test_package_delete_removes_the_package_after_confirmation(data_dir: Path) -> None:
    cli(data_dir, "package", "create", "acme/gone", "--repo", "web")
    refused = runner.invoke(app, ["package", "delete", "acme/gone", "--data-dir", str(data_dir)],
                            input="n\n")  # fmt: skip
    assert refused.exit_code == 1
    out = cli(data_dir, "package", "delete", "acme/gone", "--yes")
    assert "next garbage collection" in out
    assert "no package" in fails(data_dir, "package", "delete", "acme/gone", "--yes")


def signed_in(data_dir: Path, email: str) -> list[str]:
    """A session in the web UI and a refresh token of a person: their texts."""

    async def start() -> list[str]:
        ctx = open_context(Settings(data_dir=data_dir))
        try:
            user = await directory.find_user(ctx.db, email)
            made = [
                await sessions.start_session(
                    ctx.db, kind=kind, user_id=user.id, lifetime=3600, now=ctx.now()
                )
                for kind in sessions.KINDS
            ]
            return [text for _, text in made]
        finally:
            await ctx.db.close()

    return asyncio.run(start())


def holding(data_dir: Path, texts: list[str]) -> list[bool]:
    async def check() -> list[bool]:
        ctx = open_context(Settings(data_dir=data_dir))
        try:
            return [
                await sessions.check_session(ctx.db, text, kind=kind, now=ctx.now()) is not None
                for text, kind in zip(texts, sessions.KINDS, strict=True)
            ]
        finally:
            await ctx.db.close()

    return asyncio.run(check())


def test_user_password_sets_it_and_signs_the_person_out_everywhere(data_dir: Path) -> None:
    texts = signed_in(data_dir, "alice@example.com")
    others = signed_in(data_dir, "bob@example.com")
    cli(data_dir, "user", "password", "alice@example.com", "--password-stdin",
        stdin="a new passphrase\n")  # fmt: skip
    assert holding(data_dir, texts) == [False, False]
    assert holding(data_dir, others) == [True, True]
    role_of_password = role_of(data_dir, "alice@example.com", "a new passphrase", "acme/web")
    assert role_of_password == Role.ADMIN


def test_user_password_needs_a_password_or_remove(data_dir: Path) -> None:
    result = runner.invoke(app, ["user", "password", "alice@example.com",
                                 "--data-dir", str(data_dir)])  # fmt: skip
    assert result.exit_code == 2
    cli(data_dir, "user", "password", "alice@example.com", "--remove")
    with pytest.raises(logins.LoginFailed):
        role_of(data_dir, "alice@example.com", "correct horse battery", "acme/web")


def test_user_sessions_lists_sessions_and_refresh_tokens(data_dir: Path) -> None:
    texts = signed_in(data_dir, "bob@example.com")
    out = cli(data_dir, "user", "sessions", "bob@example.com")
    for text in texts:
        assert sessions.session_id(text) in out
        secret = text.removeprefix("chr_").split("_", 1)[1]  # a secret may hold "_" too
        assert secret not in out
    assert "web UI" in out and "refresh token" in out


def test_user_sign_out_ends_every_session_and_refresh_token(data_dir: Path) -> None:
    texts = signed_in(data_dir, "bob@example.com")
    cli(data_dir, "user", "sign-out", "bob@example.com")
    assert holding(data_dir, texts) == [False, False]


def test_token_revoke_ends_a_session_too(data_dir: Path) -> None:
    web, refresh = signed_in(data_dir, "bob@example.com")
    session_id = sessions.session_id(refresh)
    assert session_id is not None
    cli(data_dir, "token", "revoke", session_id)
    assert holding(data_dir, [web, refresh]) == [True, False]

"""Sessions and refresh tokens are rows: found by id, proven by a secret of which only a
hash is stored, and gone once ended, expired or their person's password changes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.services.accounts import directory, sessions
from cargohold.services.accounts.directory import User
from cargohold.services.context import Context, open_context

NOW = 1_800_000_000.0


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    context = open_context(Settings(data_dir=tmp_path, auth="none"))
    yield context
    await context.db.close()


@pytest.fixture
async def alice(ctx: Context) -> User:
    return await directory.create_user(
        ctx.db, email="alice@example.com", password="correct horse battery", now=NOW
    )


async def _start(ctx: Context, user: User, kind: str = sessions.WEB) -> tuple[str, str]:
    found, text = await sessions.start_session(
        ctx.db, kind=kind, user_id=user.id, client="Firefox", lifetime=3600, now=NOW
    )
    return found.id, text


async def test_a_session_is_found_by_its_text_with_its_person(ctx: Context, alice: User) -> None:
    session_id, text = await _start(ctx, alice)
    found = await sessions.check_session(ctx.db, text, kind=sessions.WEB, now=NOW + 1)
    assert found is not None
    assert (found[0].id, found[0].client, found[1]) == (session_id, "Firefox", alice)


async def test_only_a_hash_of_the_secret_is_stored(ctx: Context, alice: User) -> None:
    _, text = await _start(ctx, alice)
    secret = text.split("_", 1)[1]
    row = await ctx.db.fetchone("SELECT * FROM sessions")
    assert row is not None
    assert secret not in [str(value) for value in dict(row).values()]
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()


async def test_refresh_tokens_carry_a_prefix_for_secret_scanners(ctx: Context, alice: User) -> None:
    session_id, text = await _start(ctx, alice, sessions.REFRESH)
    assert text.startswith(f"chr_{session_id}_")
    assert sessions.session_id(text) == session_id


@pytest.mark.parametrize("change", ["secret", "id", "kind"])
async def test_a_wrong_secret_id_or_kind_is_refused(ctx: Context, alice: User, change: str) -> None:
    _, text = await _start(ctx, alice)
    kind = sessions.WEB
    if change == "secret":
        text = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    elif change == "id":
        text = "a" * 12 + text[12:]
    else:
        kind = sessions.REFRESH
    assert await sessions.check_session(ctx.db, text, kind=kind, now=NOW) is None


async def test_an_expired_session_is_refused_and_later_deleted(ctx: Context, alice: User) -> None:
    _, text = await _start(ctx, alice)
    assert await sessions.check_session(ctx.db, text, kind=sessions.WEB, now=NOW + 3600) is None
    await sessions.start_session(
        ctx.db, kind=sessions.WEB, user_id=alice.id, lifetime=60, now=NOW + 3600
    )
    assert len(await ctx.db.fetchall("SELECT id FROM sessions")) == 1


async def test_last_use_is_written_at_most_once_a_minute(ctx: Context, alice: User) -> None:
    _, text = await _start(ctx, alice)

    async def use(offset: float) -> float | None:
        await sessions.check_session(ctx.db, text, kind=sessions.WEB, now=NOW + offset)
        listed = await sessions.list_sessions(ctx.db, user_id=alice.id, now=NOW)
        return listed[0].last_used_at

    assert [await use(offset) for offset in (10, 20, 69, 70)] == [NOW + 10] * 3 + [NOW + 70]


async def test_an_ended_session_is_refused(ctx: Context, alice: User) -> None:
    session_id, text = await _start(ctx, alice)
    assert await sessions.end_session(ctx.db, session_id)
    assert await sessions.check_session(ctx.db, text, kind=sessions.WEB, now=NOW) is None
    assert not await sessions.end_session(ctx.db, session_id)


async def test_a_person_ends_only_their_own_sessions(ctx: Context, alice: User) -> None:
    bob = await directory.create_user(ctx.db, email="bob@example.com", now=NOW)
    session_id, _ = await _start(ctx, alice)
    assert not await sessions.end_session(ctx.db, session_id, user_id=bob.id)
    assert await sessions.end_session(ctx.db, session_id, user_id=alice.id)


async def test_a_password_change_ends_every_session_of_the_person(
    ctx: Context, alice: User
) -> None:
    bob = await directory.create_user(ctx.db, email="bob@example.com", now=NOW)
    texts = [(await _start(ctx, alice, kind))[1] for kind in sessions.KINDS]
    _, bobs = await _start(ctx, bob)
    assert await directory.set_password(ctx.db, user=alice, password="a new passphrase") == 2
    for text, kind in zip(texts, sessions.KINDS, strict=True):
        assert await sessions.check_session(ctx.db, text, kind=kind, now=NOW) is None
    assert await sessions.check_session(ctx.db, bobs, kind=sessions.WEB, now=NOW) is not None
    row = await ctx.db.fetchone("SELECT password_hash FROM users WHERE id = :id", {"id": alice.id})
    assert row is not None and directory.password_matches(row["password_hash"], "a new passphrase")

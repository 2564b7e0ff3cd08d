"""Readiness asks the store itself (`Backend.check`) whether it answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.oci.errors import Unavailable
from cargohold.services.context import Context, open_context
from cargohold.services.health import Check, readiness
from cargohold.storage.memory import MemoryBackend


class DownStore(MemoryBackend):
    """A store whose check fails, as S3 does when its bucket is gone."""

    async def check(self) -> None:
        raise Unavailable("the object store is unavailable (NoSuchBucket); try again shortly")


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    context = open_context(Settings(data_dir=tmp_path, storage="memory", auth="none"))
    try:
        yield context
    finally:
        await context.close()


async def test_a_node_whose_parts_answer_is_ready(ctx: Context) -> None:
    assert await readiness(ctx) == {"database": Check(True), "storage": Check(True)}


async def test_a_store_that_fails_its_check_makes_the_node_unready(ctx: Context) -> None:
    ctx.storage = DownStore()
    checks = await readiness(ctx)
    assert checks["database"] == Check(True)
    assert checks["storage"] == Check(
        False, "the object store is unavailable (NoSuchBucket); try again shortly"
    )

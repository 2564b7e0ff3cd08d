"""Registering a webhook straight on a live server's database, for the live and cluster
webhook tests: workspace acme, its owner, and one endpoint for `manifest.pushed`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cargohold.config import Settings
from cargohold.services import sealing
from cargohold.services.accounts import directory
from cargohold.services.context import open_context
from cargohold.services.events.webhooks import endpoints
from cargohold.services.events.webhooks.delivery import source_of


def register_webhook(
    *,
    data_dir: Path,
    database_url: str | None,
    sealing_key: str,
    url: str,
    secret: str,
    created_by: str,
) -> int:
    """The new endpoint's id; the server must share `database_url` and `sealing_key`."""

    async def main() -> int:
        settings = Settings(
            data_dir=data_dir,
            auth="none",
            database_url=database_url,
            webhook_secret_key=sealing_key,
        )
        ctx = open_context(settings)
        try:
            key = sealing.derive_key(sealing_key.encode(), endpoints.SECRET_PURPOSE)
            async with ctx.db.transaction() as tx:
                owner = await directory.create_user(tx, email="owner@example.com", now=ctx.now())
                acme = await directory.create_workspace(tx, slug="acme", owner=owner, now=ctx.now())
                hook = await endpoints.create_webhook(
                    tx,
                    workspace_id=acme,
                    url=url,
                    sealed_secret=sealing.seal(key, secret, endpoints.SECRET_PURPOSE),
                    events=("manifest.pushed",),
                    packages="",
                    form="cargohold",
                    active=True,
                    created_by=created_by,
                    source=source_of(settings, "test"),
                    now=ctx.now(),
                )
            return hook.id
        finally:
            await ctx.close()

    return asyncio.run(main())

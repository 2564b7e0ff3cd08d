"""What the server writes is its user's alone, whatever the umask: the data directory and every
folder in it 0700, every file 0600 (the SQLite database and its WAL and shared-memory files,
blobs, uploads in progress, the signing key)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cargohold.config import Settings
from cargohold.services.context import open_context
from cargohold.web.app import create_app
from tests.functional.registry import digest_of, image_manifest, random_blob


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, which would leave new files 0644 and folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """Every folder (with a trailing /) and file under `root` with its permission bits."""
    found = {"/": stat.S_IMODE(root.stat().st_mode)}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            key = path.relative_to(root).as_posix() + ("/" if name in dirs else "")
            found[key] = stat.S_IMODE(path.stat().st_mode)
    return found


def open_to_others(found: dict[str, int]) -> dict[str, str]:
    return {
        path: oct(mode)
        for path, mode in found.items()
        if mode != (0o700 if path.endswith("/") else 0o600)
    }


async def _push(settings: Settings) -> None:
    """An image pushed and a chunked upload left open, through the app."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            image = image_manifest([random_blob(3000), random_blob(5000)])
            for blob in image.blobs:
                pushed = await c.post(
                    "/v2/acme/web/blobs/uploads/", params={"digest": digest_of(blob)}, content=blob
                )
                assert pushed.status_code == 201, pushed.text
            manifest = await c.put(
                "/v2/acme/web/manifests/v1",
                content=image.manifest,
                headers={"Content-Type": image.media_type},
            )
            assert manifest.status_code == 201, manifest.text
            started = await c.post("/v2/acme/web/blobs/uploads/")
            patched = await c.patch(started.headers["location"], content=random_blob(700))
            assert patched.status_code == 202, patched.text
            found = modes(settings.data_dir)  # while the database is open: WAL files exist
    finally:
        await app.state.context.close()
    assert {"cargohold.db-wal", "cargohold.db-shm", "signing-key.pem"} <= set(found)
    assert [path for path in found if path.endswith(".upload")]
    assert [path for path in found if path.startswith("storage/blobs/")]
    assert open_to_others(found) == {}


async def test_with_umask_022_everything_the_server_writes_is_private(
    tmp_path: Path, umask_022: None
) -> None:
    data_dir = tmp_path / "data"
    # The first start made the signing key (accounts); this one pushes (no accounts).
    await open_context(Settings(data_dir=data_dir, auth="token")).close()
    await _push(Settings(data_dir=data_dir, auth="none"))

    assert open_to_others(modes(data_dir)) == {}


async def test_a_data_dir_open_to_others_is_made_private_at_start_and_the_log_says_so_once(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    await open_context(Settings(data_dir=data_dir, auth="token")).close()
    for path in [data_dir, *data_dir.rglob("*")]:  # as an earlier version left it
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert open_to_others(modes(data_dir))

    with caplog.at_level(logging.WARNING, logger="cargohold"):
        for _ in range(2):  # two starts
            await open_context(Settings(data_dir=data_dir, auth="token")).close()

    assert open_to_others(modes(data_dir)) == {}
    said = [record.getMessage() for record in caplog.records if "0755" in record.getMessage()]
    assert len(said) == 1, caplog.text
    assert str(data_dir) in said[0] and "0700" in said[0] and "0600" in said[0]

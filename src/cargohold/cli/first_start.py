"""What `cargohold serve` prints while there are no accounts: how to make the first admin
and a token and log in, on this machine or, from the official image, inside a container
(where the commands go through `docker exec` from the host)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cargohold.config import Settings

DEFAULT_DATA_DIR = Path("./cargohold-data")
_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/")


def container_engine(root: Path = Path("/")) -> str | None:
    """`docker` or `podman` when this process runs in one of their containers (the files
    each engine puts there), else None."""
    if (root / ".dockerenv").exists():
        return "docker"
    if (root / "run" / ".containerenv").exists():
        return "podman"
    return None


def container_id(mountinfo: str) -> str | None:
    """This container's short ID, as `docker exec` takes it, from /proc/self/mountinfo: the
    engine mounts its own files (hostname, hosts, resolv.conf) from the container's folder.
    The hostname is no substitute: with --network host it is the host's."""
    found = _CONTAINER_ID.search(mountinfo)
    return found.group(1)[:12] if found else None


def _read_mountinfo() -> str:
    try:
        return Path("/proc/self/mountinfo").read_text()
    except OSError:
        return ""


def _login_address(settings: Settings, container: bool) -> str:
    if settings.public_url:
        return settings.public_url.split("://", 1)[1]
    if container or settings.host in ("", "0.0.0.0", "::"):
        return f"localhost:{settings.port}"
    return f"{settings.host}:{settings.port}"


def first_start_hint(
    settings: Settings, engine: str | None = None, container: str | None = None
) -> str:
    """The commands that make the first admin, a workspace, a package and a token, and log
    in. With `engine` (docker, podman) they are run from the host into `container`."""
    if engine is None:
        where = f" --data-dir {settings.data_dir}" if settings.data_dir != DEFAULT_DATA_DIR else ""
        run = "cargohold"
        intro = "No users yet. Create the first admin and a token, then log in:"
        password = ""
    else:
        # `exec` keeps the container's environment: CARGOHOLD_DATA_DIR is already set there.
        env_dir = os.environ.get("CARGOHOLD_DATA_DIR")
        same = env_dir is not None and Path(env_dir) == settings.data_dir
        where = "" if same else f" --data-dir {settings.data_dir}"
        name = container or "CONTAINER"
        run = f"{engine} exec {name} cargohold"
        intro = (
            f"No users yet. From the host, create the first admin and a token with `{engine}"
            f" exec` into this container ({name}, or the --name you gave it), then log in:"
        )
        password = f"echo 'a long password' | {engine} exec -i {name} cargohold"
    create_user = f"user create you@example.com --admin --password-stdin{where}"
    lines = [
        intro,
        f"  {password} {create_user}" if password else f"  {run} {create_user}",
        f"  {run} workspace create acme --owner you@example.com{where}",
        f"  {run} project create acme PLAT{where}",
        f"  {run} repo create acme/web --project PLAT{where}",
        f"  {run} package create acme/web --repo web{where}",
        f"  TOKEN=$({run} token create you@example.com --name laptop --scope admin:package{where})",
        f'  echo "$TOKEN" | docker login --username you@example.com --password-stdin'
        f" {_login_address(settings, engine is not None)}",
    ]
    return "\n".join(lines)


def first_start_hint_here(settings: Settings) -> str:
    """The hint for where this process runs: a container of the official image or not."""
    engine = container_engine()
    return first_start_hint(settings, engine, container_id(_read_mountinfo()) if engine else None)

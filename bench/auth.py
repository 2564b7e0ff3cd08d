"""Cargohold-only figure: the cost of a bearer token on a manifest GET.

A second Cargohold runs with accounts (``--auth token``) and its own data directory. A
public package gets a small image pushed with Basic credentials; then the manifest GET of
the main manifest figure runs anonymously and with ``Authorization: Bearer <JWT>``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from bench import client
from bench.data import OCI_MANIFEST, config_blob, image_manifest, sha256_bytes
from bench.figures import Context, WrkTarget, wrk_rounds
from bench.servers import Server

KEY = "bearer_manifest_rps"
ANONYMOUS_KEY = "anonymous_manifest_rps"  # anonymous on this server ÷ the main one (auth none)
EMAIL = "bench@example.com"
WORKSPACE, PROJECT, REPO = "bench", "BENCH", "auth"
PACKAGE = f"{WORKSPACE}/{REPO}"
TOKEN_LIFETIME_S = 3600  # the default, 300 s, could end mid-run


@dataclass(frozen=True)
class Credentials:
    basic: dict[str, str]  # Authorization header: email and API token
    bearer: dict[str, str]  # Authorization header: a registry JWT with pull scope


def cargohold_cli(server: Server, *args: str) -> str:
    """Run ``cargohold ARGS --data-dir D`` as the server would (same tree, same settings);
    its standard output."""
    cmd = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(server.data_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=server.env(), check=False)
    if out.returncode != 0:
        raise client.BenchError(f"cargohold {args[0]} {args[1]}: {out.stderr.strip()}")
    return out.stdout.strip()


def create_accounts(server: Server) -> str:
    """A user owning a workspace with a public repository and its package; returns an API
    token (write:package) of that user."""
    server.data_dir.mkdir(parents=True, exist_ok=True)
    cargohold_cli(server, "user", "create", EMAIL)
    cargohold_cli(server, "workspace", "create", WORKSPACE, "--owner", EMAIL)
    cargohold_cli(server, "project", "create", WORKSPACE, PROJECT)
    cargohold_cli(server, "repo", "create", PACKAGE, "--project", PROJECT, "--public")
    cargohold_cli(server, "package", "create", PACKAGE, "--repo", REPO)
    return cargohold_cli(
        server, "token", "create", EMAIL, "--name", "bench", "--scope", "write:package",
        "--expires", "1d",
    )  # fmt: skip


def registry_token(server: Server, basic: dict[str, str], min_lifetime: float) -> str:
    """A JWT for pulling the package, from ``/token`` (docker token flow)."""
    url = f"{server.base}/token?service=cargohold&scope=repository:{PACKAGE}:pull"
    status, body = client.get(url, auth=basic)
    if status != 200:
        raise client.BenchError(f"/token: HTTP {status}: {body[:300]!r}")
    answer = json.loads(body)
    if answer.get("expires_in", 0) < min_lifetime:
        raise client.BenchError(
            f"/token: the JWT lives {answer.get('expires_in')} s, the runs {min_lifetime:.0f} s"
        )
    token: str = answer["token"]
    return token


def push_image(server: Server, basic: dict[str, str]) -> bytes:
    """Config, one 4 KiB layer and the manifest, pushed with Basic credentials on /v2."""
    layer = os.urandom(4096)
    config = config_blob([sha256_bytes(layer)])
    manifest = image_manifest(config, [(sha256_bytes(layer), len(layer))])
    client.push_blob(server.base, PACKAGE, config, sha256_bytes(config), basic)
    client.push_blob(server.base, PACKAGE, layer, sha256_bytes(layer), basic)
    client.push_manifest(server.base, PACKAGE, "v1", manifest, basic)
    return manifest


def check_access(server: Server, creds: Credentials, manifest: bytes) -> None:
    """The manifest reads back anonymously and with the JWT, and a forged JWT is refused
    (so the bearer runs do check the token)."""
    url = f"{server.base}/v2/{PACKAGE}/manifests/v1"
    header = creds.bearer["Authorization"]
    tail = "BBBA" if header.endswith("AAAA") else "AAAA"  # a signature that is not the JWT's
    forged = {"Authorization": header[:-4] + tail}
    for what, auth, want in (
        ("anonymous", None, 200),
        ("bearer", creds.bearer, 200),
        ("forged bearer", forged, 401),
    ):
        status, body = client.get(url, OCI_MANIFEST, auth)
        if status != want or (want == 200 and body != manifest):
            raise client.BenchError(f"{what} manifest GET: HTTP {status}, expected {want}")


def bearer_manifest_rps(ctx: Context) -> None:
    """7. Cargohold only: manifest GETs at 32 connections, anonymous vs bearer token."""
    main = next((s for s in ctx.servers if s.name == "cargohold"), None)
    if main is None:
        ctx.log("  skipped: Cargohold is not part of this run")
        return
    server = Server(
        "cargohold", ctx.work / "cargohold-auth" / "data", workers=main.workers, auth="token",
        extra_env={"CARGOHOLD_TOKEN_LIFETIME": str(TOKEN_LIFETIME_S)},
    )  # fmt: skip
    api_token = create_accounts(server)
    basic = {"Authorization": client.basic_auth(EMAIL, api_token)}
    ctx.log(f"  starting cargohold --auth token on {server.host}")
    server.start()
    try:
        manifest = push_image(server, basic)
        runs_s = 2 * (2 + ctx.duration * ctx.wrk_rounds) + 60  # warm-ups, rounds, margin
        jwt = registry_token(server, basic, runs_s)
        creds = Credentials(basic, {"Authorization": f"Bearer {jwt}"})
        check_access(server, creds, manifest)
        url = f"{server.base}/v2/{PACKAGE}/manifests/v1"
        # The same image on the main Cargohold (auth none), for anonymous ÷ auth none.
        push_image(main, {})
        targets = [
            WrkTarget("anonymous", url, {"Accept": OCI_MANIFEST}),
            WrkTarget("bearer", url, {"Accept": OCI_MANIFEST, **creds.bearer}),
            WrkTarget("none", f"{main.base}/v2/{PACKAGE}/manifests/v1", {"Accept": OCI_MANIFEST}),
        ]
        measured = wrk_rounds(ctx, KEY, targets, 32, lambda r: r.rps, "req/s", strict=True)
    except Exception:
        ctx.log(f"cargohold --auth token log tail:\n{server.log(1500)}")
        raise
    finally:
        server.stop()
    measured["bearer"].detail["authorization_header_bytes"] = len(creds.bearer["Authorization"])
    ctx.results[KEY] = {k: measured[k] for k in ("bearer", "anonymous")}
    ctx.results[ANONYMOUS_KEY] = {k: measured[k] for k in ("anonymous", "none")}
    ratio = measured["bearer"].value / measured["anonymous"].value
    ctx.log(f"  bearer / anonymous: {ratio:.2f}")
    ratio = measured["anonymous"].value / measured["none"].value
    ctx.log(f"  anonymous (auth on) / auth none: {ratio:.2f}")

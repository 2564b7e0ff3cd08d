"""python -m bench.mirror: pulls through a mirror (docs/mirror.md) beside the pulls they stand for.

An upstream (distribution 2.8.2 on 127.0.0.1) holds images of one layer of ``--size-mib``;
Cargohold (one worker, auth none, SQLite and the filesystem) mirrors it as ``acme/hub``. A
pull is what a client does: the manifest, the config and the layer, read to the end and
hashed. Per round, with a new image each round:

- cold: the first pull through the mirror (Cargohold fetches, checks and stores while it
  streams), beside a pull of the same image from the upstream directly;
- warm: the same pull through the mirror again (served from the store), beside a pull of
  the same image pushed to Cargohold itself (a local package).

The medians of ``--rounds`` rounds are printed, as seconds, MiB/s and the ratios the issue
asks for: warm ÷ local (about 1: as fast as a local pull), cold ÷ upstream (at least 0.8).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.servers import Server

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
MIB = 1024 * 1024


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _push(base: str, name: str, tag: str, layer: bytes) -> None:
    """One image of one layer, pushed as a client does (POST, PUT with the digest)."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    with httpx.Client(base_url=base, timeout=600) as client:
        for blob in (config, layer):
            started = client.post(f"/v2/{name}/blobs/uploads/")
            started.raise_for_status()
            location = started.headers["location"]
            joiner = "&" if "?" in location else "?"
            client.put(f"{location}{joiner}digest={_digest(blob)}", content=blob).raise_for_status()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": _digest(layer), "size": len(layer)}],
        }
        body = json.dumps(manifest).encode()
        answer = client.put(
            f"/v2/{name}/manifests/{tag}", content=body, headers={"Content-Type": MANIFEST}
        )
        answer.raise_for_status()


def _pull(base: str, name: str, tag: str) -> float:
    """Seconds to pull an image: manifest, then each blob read to the end and hashed."""
    began = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        answer = client.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST})
        answer.raise_for_status()
        manifest = answer.json()
        for descriptor in [manifest["config"], *manifest["layers"]]:
            digest = hashlib.sha256()
            with client.stream("GET", f"/v2/{name}/blobs/{descriptor['digest']}") as blob:
                blob.raise_for_status()
                for chunk in blob.iter_bytes(MIB):
                    digest.update(chunk)
            assert "sha256:" + digest.hexdigest() == descriptor["digest"]
    return time.perf_counter() - began


@dataclass
class Round:
    upstream: float
    cold: float
    warm: float
    local: float


def _cli(server: Server, *args: str, stdin: str | None = None) -> None:
    command = [sys.executable, "-m", "cargohold", *args, "--data-dir", str(server.data_dir)]
    subprocess.run(command, env=server.env(), input=stdin, text=True, check=True, timeout=120)


def run(size_mib: int, rounds: int, workdir: Path) -> list[Round]:
    upstream = Server("distribution", workdir / "upstream")
    mirror_env = {"CARGOHOLD_MIRROR_ALLOWED_NETWORKS": "127.0.0.0/8"}
    cargohold = Server("cargohold", workdir / "cargohold", extra_env=mirror_env)
    upstream.start()
    try:
        cargohold.data_dir.mkdir(parents=True, exist_ok=True)
        _cli(cargohold, "user", "create", "bench@example.com")
        _cli(cargohold, "workspace", "create", "acme", "--owner", "bench@example.com")
        _cli(cargohold, "mirror", "create", "acme/hub", "--upstream", upstream.base)
        cargohold.start()
        try:
            results = []
            for number in range(rounds):
                layer = os.urandom(size_mib * MIB)
                tag = f"r{number}"
                _push(upstream.base, "library/img", tag, layer)
                _push(cargohold.base, "acme/local/img", tag, layer)
                del layer
                direct = _pull(upstream.base, "library/img", tag)
                cold = _pull(cargohold.base, "acme/hub/img", tag)
                warm = _pull(cargohold.base, "acme/hub/img", tag)
                local = _pull(cargohold.base, "acme/local/img", tag)
                results.append(Round(direct, cold, warm, local))
                print(
                    f"round {number + 1}: upstream {direct:.2f} s, cold {cold:.2f} s,"
                    f" warm {warm:.2f} s, local {local:.2f} s",
                    file=sys.stderr,
                )
            return results
        finally:
            cargohold.stop()
    finally:
        upstream.stop()


def report(results: list[Round], size_mib: int) -> dict[str, float]:
    median = {
        key: statistics.median(getattr(r, key) for r in results)
        for key in ("upstream", "cold", "warm", "local")
    }
    figures = {f"{key}_s": round(value, 3) for key, value in median.items()}
    figures |= {f"{key}_mib_s": round(size_mib / value, 1) for key, value in median.items()}
    figures["warm_vs_local"] = round(median["local"] / median["warm"], 2)
    figures["cold_vs_upstream"] = round(median["upstream"] / median["cold"], 2)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mirror", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256, help="layer size (default 256)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians kept (3)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-mirror-") as tmp:
        figures = report(run(args.size_mib, args.rounds, Path(tmp)), args.size_mib)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    size = args.size_mib
    print(f"pull of one {size} MiB layer, median of {args.rounds} rounds")
    for key, label in (
        ("upstream", "from the upstream directly"),
        ("cold", "through the mirror, cold"),
        ("warm", "through the mirror, warm"),
        ("local", "a local package"),
    ):
        print(f"  {label:28} {figures[f'{key}_s']:7.2f} s  {figures[f'{key}_mib_s']:7.1f} MiB/s")
    print(f"  warm / local rate:     {figures['warm_vs_local']:.2f}")
    print(f"  cold / upstream rate:  {figures['cold_vs_upstream']:.2f}")


if __name__ == "__main__":
    main()

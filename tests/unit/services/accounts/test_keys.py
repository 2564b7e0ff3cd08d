"""The signing key made once in the data directory, by whichever process comes first."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from cargohold.config import Settings
from cargohold.services.accounts.keys import load_signing_key

PROCESSES = 8


def _load(data_dir: Path, start: multiprocessing.synchronize.Barrier) -> bytes:
    start.wait()
    key = load_signing_key(Settings(data_dir=data_dir, storage="memory"))
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _worker(
    data_dir: Path, start: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue[object]
) -> None:
    try:
        out.put(_load(data_dir, start))
    except BaseException as exc:  # reported to the test, which fails on it
        out.put(repr(exc))


def test_workers_starting_together_all_load_the_one_key_the_first_of_them_made(
    tmp_path: Path,
) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    out: multiprocessing.Queue[object] = context.Queue()
    workers = [
        context.Process(target=_worker, args=(tmp_path, start, out)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    answers = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)

    failures = [answer for answer in answers if not isinstance(answer, bytes)]
    assert not failures, failures
    assert len(set(answers)) == 1, "every process signs with the same key"
    assert [path.name for path in tmp_path.iterdir()] == ["signing-key.pem"], "no leftovers"
    assert (tmp_path / "signing-key.pem").stat().st_mode & 0o777 == 0o600

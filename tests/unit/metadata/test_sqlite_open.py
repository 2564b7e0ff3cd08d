"""Opening the embedded database: what `cargohold serve`'s workers do together at start."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from cargohold.metadata import migrate
from cargohold.metadata.db import SQLiteDatabase

PROCESSES = 8
ROUNDS = 25


def _open(path: Path, start: Barrier, out: Queue[str]) -> None:
    start.wait()
    try:
        SQLiteDatabase(path)
    except Exception as exc:  # reported to the test, which fails on it
        out.put(repr(exc))
    else:
        out.put("opened")


def test_workers_opening_a_new_database_together_all_open_it_in_wal_mode(
    tmp_path: Path,
) -> None:
    template = tmp_path / "template.db"
    migrate.upgrade(migrate.sqlite_url(template))  # as `serve` leaves it: not in WAL mode yet
    context = multiprocessing.get_context("fork")
    failures: list[str] = []
    for round_ in range(ROUNDS):
        path = tmp_path / str(round_) / "cargohold.db"
        path.parent.mkdir()
        shutil.copyfile(template, path)
        start = context.Barrier(PROCESSES)
        out: Queue[str] = context.Queue()
        workers = [context.Process(target=_open, args=(path, start, out)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        answers = [out.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        failures += [answer for answer in answers if answer != "opened"]
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not failures, f"{len(failures)} opens of {ROUNDS * PROCESSES} failed: {failures[0]}"

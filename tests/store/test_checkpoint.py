"""SQLite's WAL starts over after a checkpoint, also while ingest writes without pause.

A WAL starts over only at a write that finds all of it copied into the database and no
reader on an older snapshot. A checkpoint beside steady writes never finds that, so the
WAL grew without end (600 MB in 20 s at 10,000 alerts/s): the writer finishes each
checkpoint between two of its writes.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest

from bot.rules import Router
from bot.store import Store
from tests.helpers import eventually
from tests.store.test_store import items, make_alert

pytestmark = pytest.mark.parametrize("ingest_process", [True, False], ids=["process", "thread"])


def _wal(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///") + "-wal")


async def test_the_wal_stops_growing_after_a_checkpoint_under_steady_writes(
    sqlite_url: str, router: Router, ingest_process: bool
) -> None:
    store = Store(sqlite_url, ingest_process=ingest_process)
    await store.open()
    serial = itertools.count()
    stop = asyncio.Event()
    written = [0]

    async def load() -> None:
        while not stop.is_set():
            n = next(serial)
            batch = [make_alert("Load", pod=f"p{n}-{i}", blob="x" * 400) for i in range(20)]
            await store.ingest(items(router, *batch))
            written[0] += 1

    async def commits(count: int) -> None:
        target = written[0] + count
        await eventually(lambda: written[0] >= target, within=60)

    writers = [asyncio.create_task(load()) for _ in range(4)]
    try:
        await commits(300)
        # Commits keep landing while the checkpoint copies: the case that never restarted.
        await store.checkpoint()
        size = _wal(sqlite_url).stat().st_size
        await commits(100)  # far fewer frames than the WAL holds: they fit from its start
        assert _wal(sqlite_url).stat().st_size == size
    finally:
        stop.set()
        await asyncio.gather(*writers)
        await store.close()


async def test_a_reader_on_an_older_snapshot_holds_up_the_writer_only_briefly(
    sqlite_url: str, router: Router, ingest_process: bool
) -> None:
    store = Store(sqlite_url, ingest_process=ingest_process)
    await store.open()
    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        await store.ingest(items(router, make_alert("Before")))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM alerts").fetchone()  # a snapshot in the WAL
        await store.ingest(items(router, make_alert("After")))
        async with asyncio.timeout(10):  # not the 30 s busy timeout of the writes
            busy, frames, copied = await store._require_writer().checkpoint()
        assert busy == 1 and copied < frames  # the reader's snapshot is still needed
        # Ingest goes on meanwhile, and once the reader is done the WAL can start over.
        await store.ingest(items(router, make_alert("During")))
        reader.execute("COMMIT")
        busy, frames, copied = await store._require_writer().checkpoint()
        assert busy == 0 and copied == frames
    finally:
        reader.close()
        await store.close()

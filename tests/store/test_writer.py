"""The writer's order: shared writes queued together commit together and fail alone;
a webhook waits behind at most one other write."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.rules import Router
from bot.store import Store
from bot.store.engine import normalize_url
from bot.store.tables import counters, incidents
from tests.helpers import eventually
from tests.store.test_store import items, make_alert


def _insert(name: str) -> Any:
    def run(conn: Connection) -> Any:
        conn.execute(counters.insert().values(name=name, value=1))
        return conn.get_transaction()  # kept alive by the result: compared by identity

    return run


def _fail(conn: Connection) -> None:
    conn.execute(counters.insert().values(name="failing", value=1))
    raise RuntimeError("this job fails")


async def _queue_behind_a_busy_writer(store: Store, *writes: Any) -> list[Any]:
    """Queue `writes` (fn, share) together while the writer is busy, then let it go;
    returns their futures."""
    started, gate = threading.Event(), threading.Event()

    def busy(_conn: Connection) -> None:
        started.set()
        gate.wait(10)

    blocker = asyncio.ensure_future(store.write(busy))
    await eventually(started.is_set)
    pending = [asyncio.ensure_future(store.write(fn, share=share)) for fn, share in writes]
    await asyncio.sleep(0.05)  # let every write reach the writer's queue
    gate.set()
    await blocker
    return pending


async def _queued_behind_a_busy_writer(store: Store, *writes: Any) -> list[Any]:
    """Run `writes` (fn, share) so that all are queued while the writer is busy."""
    pending = await _queue_behind_a_busy_writer(store, *writes)
    return await asyncio.gather(*pending, return_exceptions=True)


def _names(store_url: str) -> set[str]:
    engine = sa.create_engine(normalize_url(store_url))
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(sa.select(counters.c.name))}
    finally:
        engine.dispose()


async def test_shared_writes_queued_together_share_one_transaction(database_url: str) -> None:
    store = Store(database_url)
    await store.open()
    try:
        a, b, alone = await _queued_behind_a_busy_writer(
            store, (_insert("a"), True), (_insert("b"), True), (_insert("alone"), False)
        )
    finally:
        await store.close()
    assert a is not None and a is b  # one transaction
    assert alone is not a
    assert {"a", "b", "alone"} <= _names(database_url)


async def test_a_failing_shared_write_fails_alone(database_url: str) -> None:
    store = Store(database_url)
    await store.open()
    try:
        a, failed, b = await _queued_behind_a_busy_writer(
            store, (_insert("a"), True), (_fail, True), (_insert("b"), True)
        )
    finally:
        await store.close()
    assert isinstance(failed, RuntimeError)
    assert not isinstance(a, BaseException) and not isinstance(b, BaseException)
    names = _names(database_url)
    assert {"a", "b"} <= names and "failing" not in names


@pytest.mark.parametrize("share", [True, False])
async def test_a_write_gets_its_own_result(database_url: str, share: bool) -> None:
    store = Store(database_url)
    await store.open()
    try:
        result = await store.write(lambda conn: conn.execute(sa.select(sa.literal(7))).scalar())
        shared = await store.write(lambda conn: 8, share=share)
    finally:
        await store.close()
    assert (result, shared) == (7, 8)


async def test_a_webhook_waits_behind_one_write_not_every_write_queued(
    sqlite_url: str, router: Router
) -> None:
    """Two writes queued together, then a webhook while the first runs: the webhook
    commits before the second write, which sees its incident."""
    store = Store(sqlite_url, ingest_process=False)  # jobs that block need this thread
    await store.open()
    try:
        first_running, release_first = threading.Event(), threading.Event()

        def first(_conn: Connection) -> None:
            first_running.set()
            release_first.wait(10)

        def second(conn: Connection) -> int:
            return conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one()

        writes = await _queue_behind_a_busy_writer(store, (first, False), (second, False))
        await eventually(first_running.is_set)
        webhook = asyncio.ensure_future(store.ingest(items(router, make_alert("A", pod="a"))))
        await asyncio.sleep(0.05)  # queued while the first write runs
        release_first.set()
        await webhook
        assert (await asyncio.gather(*writes))[1] == 1
    finally:
        await store.close()

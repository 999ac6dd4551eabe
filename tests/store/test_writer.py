"""Shared writes: small writes queued together commit together, and fail alone."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.store import Store
from bot.store.engine import normalize_url
from bot.store.tables import counters
from tests.helpers import eventually


def _insert(name: str) -> Any:
    def run(conn: Connection) -> Any:
        conn.execute(counters.insert().values(name=name, value=1))
        return conn.get_transaction()  # kept alive by the result: compared by identity

    return run


def _fail(conn: Connection) -> None:
    conn.execute(counters.insert().values(name="failing", value=1))
    raise RuntimeError("this job fails")


async def _queued_behind_a_busy_writer(store: Store, *writes: Any) -> list[Any]:
    """Run `writes` (fn, share) so that all are queued while the writer is busy."""
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

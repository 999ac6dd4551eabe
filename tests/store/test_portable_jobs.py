"""Writes marked portable run in the ingest process, in order with the group commits,
and fail as they would on the writer thread."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import os
import pickle
import signal
import threading
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.rules import Router, load_rules
from bot.rules.model import RulesConfig
from bot.store import Store, StoreUnavailable
from bot.store.errors import IngestFailed
from bot.store.ingest_process import JobPickler, JobUnpickler
from bot.store.tables import incidents
from tests.store.startup_probe import loaded_job_modules
from tests.store.test_store import items, make_alert


def _pid_and_incidents(conn: Connection) -> tuple[int, int]:
    count = conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one()
    return os.getpid(), count


def _rename(conn: Connection, title: str) -> int:
    return conn.execute(incidents.update().values(title=title)).rowcount


def _fail(conn: Connection, message: str) -> None:
    conn.execute(incidents.update().values(title="never committed"))
    raise LookupError(message)


class _Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("cannot cross")
        self.lock = threading.Lock()


def _fail_unpicklably(conn: Connection) -> None:
    raise _Unpicklable()


def _unpicklable_result(conn: Connection) -> object:
    return threading.Lock()


def _kill_self(conn: Connection) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@contextlib.asynccontextmanager
async def _opened(url: str) -> AsyncIterator[Store]:
    store = Store(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _titles(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.select(incidents.c.title)).scalars())
    finally:
        engine.dispose()


async def test_a_portable_write_runs_in_the_ingest_process_after_the_batches_before_it(
    database_url: str, router: Router
) -> None:
    async with _opened(database_url) as store:
        committed = asyncio.ensure_future(store.ingest(items(router, make_alert("A", pod="a"))))
        await asyncio.sleep(0)  # queued, not yet committed
        assert not committed.done()
        there = await store.write(_pid_and_incidents, portable=True)
        await committed
        here = await store.write(_pid_and_incidents)
    assert there[0] != os.getpid()
    assert there[1] == 1  # the batch queued before it is committed
    assert here == (os.getpid(), 1)  # not portable: on the writer thread


async def test_a_portable_write_fails_as_it_would_on_the_writer_thread(
    database_url: str, router: Router
) -> None:
    async with _opened(database_url) as store:
        await store.ingest(items(router, make_alert("A", pod="a")))
        with pytest.raises(LookupError, match="no such thing"):
            await store.write(partial(_fail, message="no such thing"), portable=True)
        with pytest.raises(IngestFailed, match="_Unpicklable: cannot cross"):
            await store.write(_fail_unpicklably, portable=True)
        with pytest.raises(Exception, match="pickle"):
            await store.write(lambda conn: None, portable=True)  # a bug: said, not hidden
        with pytest.raises(IngestFailed, match="result did not pickle"):
            await store.write(_unpicklable_result, portable=True)
        assert await store.write(partial(_rename, title="renamed"), portable=True) == 1
    assert _titles(database_url) == {"renamed"}


async def test_shared_portable_writes_commit_together_and_one_failing_fails_alone(
    sqlite_url: str, router: Router
) -> None:
    async with _opened(sqlite_url) as store:
        await store.ingest(items(router, make_alert("A", pod="a")))
        # Queued at once, they reach the writer as one batch and are tried together.
        results = await asyncio.gather(
            store.write(partial(_rename, title="one"), share=True, portable=True),
            store.write(partial(_fail, message="boom"), share=True, portable=True),
            store.write(partial(_rename, title="two"), share=True, portable=True),
            return_exceptions=True,
        )
    assert results[0] == 1 and results[2] == 1
    assert isinstance(results[1], LookupError)
    assert _titles(sqlite_url) == {"two"}  # the failing one rolled back alone


async def test_a_process_that_dies_in_a_job_answers_retry_and_the_next_write_restarts_it(
    sqlite_url: str, router: Router
) -> None:
    async with _opened(sqlite_url) as store:
        first = store.ingest_pid
        with pytest.raises(StoreUnavailable, match="ingest process exited"):
            await store.write(_kill_self, portable=True)
        assert await store.write(partial(_rename, title="after"), portable=True) == 0
        assert store.ingest_pid not in (None, first)


def test_the_rules_cross_once_and_a_new_configuration_crosses_again(config_dir: Path) -> None:
    rules, newer = load_rules(config_dir), load_rules(config_dir)
    sent: dict[int, RulesConfig] = {}
    received: dict[int, RulesConfig] = {}

    def cross(job: object) -> object:
        buffer = io.BytesIO()
        JobPickler(buffer, sent).dump(job)
        return JobUnpickler(buffer.getvalue(), received).load()

    whole = len(pickle.dumps(rules))
    first = cross(partial(_rename, title=rules))
    size_again = io.BytesIO()
    JobPickler(size_again, sent).dump(partial(_rename, title=rules))
    assert len(size_again.getvalue()) < whole / 4  # named by id, not pickled again
    second = cross(partial(_rename, title=rules))
    assert first.keywords["title"] is second.keywords["title"]  # type: ignore[attr-defined]
    assert first.keywords["title"] == rules  # type: ignore[attr-defined]
    third = cross(partial(_rename, title=newer))
    assert third.keywords["title"] is not first.keywords["title"]  # type: ignore[attr-defined]
    assert list(sent) == [id(newer)] and len(received) == 1


def _gc_threshold(conn: Connection) -> tuple[int, ...]:
    return gc.get_threshold()


async def test_the_ingest_process_collects_garbage_as_seldom_as_the_bot(sqlite_url: str) -> None:
    """At the default threshold, unpickling a batch took four times as long."""
    async with _opened(sqlite_url) as store:
        assert await store.write(_gc_threshold, portable=True) == (20_000, 10, 10)


async def test_the_ingest_process_is_ready_for_jobs_before_the_first(sqlite_url: str) -> None:
    """Importing the job modules in the first claim held the webhooks queued behind it
    for a quarter of a second."""
    async with _opened(sqlite_url) as store:
        loaded, expected = await store.write(loaded_job_modules, portable=True)
    assert loaded == expected == ["bot.store.outbox", "bot.escalation.targets"]

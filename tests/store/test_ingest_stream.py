"""The bot's end of the ingest process: webhooks go out as they are queued, a write on
the bot's own connection holds the process at a barrier, and nothing is lost when the
socket is full or the routes sent are forgotten."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.incidents.grouping import Verdict
from bot.rules import Router
from bot.store import Store, StoreUnavailable, ingest_stream
from bot.store.tables import incidents
from tests.helpers import eventually
from tests.store.test_ingest_process import _first_batch_held
from tests.store.test_store import items, make_alert


def _count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar_one()


async def test_the_process_writes_nothing_while_a_write_on_the_bots_connection_runs(
    database_url: str, router: Router
) -> None:
    """Such a write runs at a barrier: webhooks sent meanwhile wait for it, and it does
    not see them appear halfway (on PostgreSQL each statement reads what has been
    committed, so a process that went on would show here)."""
    store = Store(database_url)
    await store.open()
    try:
        await store.ingest(items(router, make_alert("Before", pod="a")))
        running, release = threading.Event(), threading.Event()

        def twice(conn: Connection) -> tuple[int, int]:
            first = _count(conn)
            running.set()
            release.wait(10)
            return first, _count(conn)

        write = asyncio.ensure_future(store.write(twice))
        await eventually(running.is_set)
        webhook = asyncio.ensure_future(store.ingest(items(router, make_alert("During", pod="b"))))
        await asyncio.sleep(0.3)
        assert not webhook.done()
        release.set()
        assert await write == (1, 1)
        assert (await webhook).verdicts == [Verdict.NEW]
        assert await store.write(_count) == 2
    finally:
        await store.close()


async def test_a_process_lost_before_a_barrier_fails_the_writes_waiting_for_it(
    database_url: str, router: Router
) -> None:
    """They did not run, and asking process after process to reach a barrier while the
    database is down would never end: their senders retry, and the next write starts
    a new process."""
    store = Store(database_url)
    await store.open()
    try:
        async with _first_batch_held(store, database_url, router) as webhook:
            pid = store.ingest_pid
            assert pid is not None
            waiting = asyncio.ensure_future(store.write(_count))
            await asyncio.sleep(0.1)
            assert not waiting.done()
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(StoreUnavailable, match="ingest process exited"):
                await waiting
            with pytest.raises(StoreUnavailable, match="ingest process exited"):
                await webhook
        assert await store.write(_count) in (1, 2)  # whether the lost batch committed
        assert store.ingest_pid not in (None, pid)
    finally:
        await store.close()


async def test_what_does_not_fit_in_the_socket_goes_out_later_in_order(
    sqlite_url: str, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the smallest socket buffer, most of a storm waits in the bot and goes out as
    the process reads: every webhook is committed once, in the order sent."""
    monkeypatch.setattr(ingest_stream, "SOCKET_BUFFER", 4096)
    store = Store(sqlite_url)
    await store.open()
    try:
        storm = [
            items(router, *(make_alert(f"Storm{n}", pod=f"p{k}") for k in range(200)))
            for n in range(20)
        ]
        resolved = items(router, make_alert("Storm0", "resolved", pod="p0"))
        sent = [asyncio.ensure_future(store.ingest(w)) for w in [*storm, *storm, resolved]]
        await asyncio.sleep(0)  # each is encoded and sent, or queued to be
        assert store._writer is not None and store._writer._backlog  # type: ignore[union-attr]
        plans = await asyncio.gather(*sent)
    finally:
        await store.close()
    # Plans of requests that shared a commit hold every verdict of that commit.
    verdicts = [v for plan in {id(p): p for p in plans}.values() for v in plan.verdicts]
    assert verdicts.count(Verdict.NEW) == 20 * 200
    assert verdicts.count(Verdict.DUPLICATE) == 20 * 200
    assert verdicts[-1] is Verdict.RESOLVED  # sent last, committed after its firing


async def test_routes_forgotten_on_both_sides_are_sent_again(
    sqlite_url: str, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routes cross once and are named by id after that; past the limit both sides
    forget them, and each webhook still lands on its own route."""
    monkeypatch.setattr(ingest_stream, "_MAX_ROUTES_SENT", 1)
    store = Store(sqlite_url)
    await store.open()
    try:
        plans = []
        for n in range(3):
            paged = make_alert(f"A{n}", pod="a", team="payments", cluster="eu-1")
            for alert in (paged, make_alert(f"A{n}", pod="a")):
                plans.append(await store.ingest(items(router, alert)))
        keys = [plan.incidents[0].group_key for plan in plans]
    finally:
        await store.close()
    assert all(plan.verdicts == [Verdict.NEW] for plan in plans)
    assert keys[:2] == [
        '{}/{team="payments"}:{alertname="A0",cluster="eu-1"}',
        '{}:{alertname="A0"}',
    ]
    assert keys[4:] == [
        '{}/{team="payments"}:{alertname="A2",cluster="eu-1"}',
        '{}:{alertname="A2"}',
    ]


async def test_the_process_commits_what_was_sent_while_the_event_loop_is_busy(
    sqlite_url: str, router: Router
) -> None:
    """Webhooks are in the process's socket from the moment they are queued: it commits
    them while the event loop is held up, with no other thread's help."""
    store = Store(sqlite_url)
    await store.open()
    try:
        await store.ingest(items(router, make_alert("Warmup", pod="w")))
        sent = [
            asyncio.ensure_future(store.ingest(items(router, make_alert(f"B{n}", pod="b"))))
            for n in range(5)
        ]
        await asyncio.sleep(0)  # each is sent
        engine = sa.create_engine(sqlite_url)
        try:
            committed = 0
            for _ in range(200):  # the event loop stays held up for this whole loop
                with engine.connect() as conn:
                    committed = _count(conn)
                if committed == 6:
                    break
                threading.Event().wait(0.05)
        finally:
            engine.dispose()
        assert committed == 6
        assert not any(future.done() for future in sent)  # answers wait for the loop
        plans: list[Any] = await asyncio.gather(*sent)
        assert all(Verdict.NEW in plan.verdicts for plan in plans)
    finally:
        await store.close()


def _slow_count(conn: Connection, seconds: float) -> int:
    time.sleep(seconds)
    return _count(conn)


async def test_a_webhook_waits_behind_one_write_in_the_process_not_every_write_queued(
    sqlite_url: str, router: Router
) -> None:
    """Two portable writes queued together behind a third, then a webhook while the
    first of them runs: the process commits the webhook before the second write, which
    sees its incident."""
    store = Store(sqlite_url)
    await store.open()
    try:
        await store.ingest(items(router, make_alert("Warmup", pod="w")))
        busy = asyncio.ensure_future(store.write(partial(_slow_count, seconds=0.4), portable=True))
        await asyncio.sleep(0.1)  # the process is in that write: the next two queue together
        first = asyncio.ensure_future(store.write(partial(_slow_count, seconds=0.5), portable=True))
        second = asyncio.ensure_future(store.write(partial(_slow_count, seconds=0), portable=True))
        await busy
        await asyncio.sleep(0.2)  # the first runs
        webhook = await store.ingest(items(router, make_alert("A", pod="a")))
        assert webhook.verdicts == [Verdict.NEW]
        assert (await first, await second) == (1, 2)
    finally:
        await store.close()


@pytest.mark.parametrize("process", [True, False], ids=["ingest-process", "writer-thread"])
async def test_a_failing_commit_hook_does_not_leave_the_senders_waiting(
    sqlite_url: str, router: Router, process: bool
) -> None:
    hooked: list[int] = []

    def observe(plan: Any, _seconds: float) -> None:
        hooked.append(len(plan.verdicts))
        raise RuntimeError("a metrics bug")

    store = Store(sqlite_url, observe=observe, ingest_process=process)
    await store.open()
    try:
        async with asyncio.timeout(5):
            plan = await store.ingest(items(router, make_alert("A", pod="a")))
    finally:
        await store.close()
    assert plan.verdicts == [Verdict.NEW] and hooked == [1]

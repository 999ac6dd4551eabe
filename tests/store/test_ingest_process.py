"""Group commits in the ingest process: the same result as on the writer thread, a
wire format that loses nothing, and a process that can die without losing a batch."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from bot.incidents.grouping import Item, Plan, Verdict
from bot.ingest import Alert, AlertStatus
from bot.rules import Router
from bot.rules.mute import Mute
from bot.store import Store, StoreUnavailable
from bot.store.engine import normalize_url
from bot.store.errors import IngestFailed
from bot.store.ingest_process import (
    decode_plan,
    decode_rows,
    encode_plan,
    encode_request,
    frame,
    split_frames,
)
from tests.helpers import Clock, eventually
from tests.store.test_store import _hold_write_lock, items, make_alert


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored incident, alert and timeline event, without surrogate keys."""
    engine = sa.create_engine(normalize_url(url))
    queries = {
        "incidents": "SELECT id, group_key, state, title, firing_count, alert_count, "
        "flap_count, muted_count, resolved_at FROM incidents ORDER BY id",
        "alerts": "SELECT incident_id, fingerprint, status, labels, annotations, starts_at, "
        "ends_at, content_hash, muted_by FROM alerts ORDER BY incident_id, fingerprint",
        "timeline": "SELECT incident_id, at, kind, text, data FROM timeline_events "
        "ORDER BY incident_id, id",
        "outbox": "SELECT incident_id, kind FROM outbox ORDER BY id",
        "escalations": "SELECT incident_id, policy, next_index FROM escalations "
        "ORDER BY incident_id",
    }
    try:
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.exec_driver_sql(q)] for name, q in queries.items()
            }
    finally:
        engine.dispose()


def _story(clock: Clock) -> list[list[Alert]]:
    """Webhooks that open, grow, repeat, resolve and flap incidents."""
    t0 = clock.now
    return [
        [make_alert("DiskFull", pod="a", starts=t0), make_alert("DiskFull", pod="b", starts=t0)],
        [make_alert("DiskFull", pod="a", starts=t0), make_alert("CPUHigh", pod="c", starts=t0)],
        [make_alert("DiskFull", "resolved", pod="a", starts=t0)],
        [make_alert("DiskFull", "resolved", pod="b", starts=t0)],
        [make_alert("DiskFull", pod="a", starts=t0 + timedelta(minutes=1))],
        [make_alert("Unknown", "resolved", pod="z", starts=t0)],
    ]


async def _replay(url: str, router: Router, *, process: bool) -> list[list[Verdict]]:
    clock = Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    store = Store(url, clock=clock, ingest_process=process)
    await store.open()
    verdicts = []
    try:
        for webhook in _story(clock):
            plan = await store.ingest(items(router, *webhook))
            verdicts.append(plan.verdicts)
            clock.advance(seconds=30)
        if process:
            assert store.ingest_pid not in (None, os.getpid())
    finally:
        await store.close()
    return verdicts


async def test_the_process_stores_exactly_what_the_writer_thread_stores(
    database_url: str, router: Router, tmp_path: Path
) -> None:
    thread_url = f"sqlite:///{tmp_path / 'thread.db'}"
    in_thread = await _replay(thread_url, router, process=False)
    in_process = await _replay(database_url, router, process=True)
    assert in_process == in_thread
    assert Verdict.REFIRED in in_process[4] and Verdict.UNKNOWN_RESOLVED in in_process[5]
    stored, expected = _rows(database_url), _rows(thread_url)
    if database_url.startswith("postgresql"):
        # Timestamps and JSON come back typed from PostgreSQL, as text from SQLite.
        stored = {name: [tuple(map(str, r)) for r in rows] for name, rows in stored.items()}
        expected = {name: [tuple(map(str, r)) for r in rows] for name, rows in expected.items()}
        stored.pop("timeline"), expected.pop("timeline")
        stored.pop("alerts"), expected.pop("alerts")
    assert stored == expected
    assert len(_rows(thread_url)["incidents"]) == 2  # a resolve never seen firing opens none


def test_the_wire_format_keeps_every_field(router: Router) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    alert = Alert(
        labels={"alertname": "DiskFull", "team": "payments", "cluster": "eu-1"},
        annotations={"summary": "disk *full*", "description": "97 %"},
        status=AlertStatus.FIRING,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(minutes=5),
        generator_url="http://prometheus/graph",
        fingerprint="507a62d79ee76c9a",
        source="alertmanager",
        sender_group_key='{}:{alertname="DiskFull"}',
    )
    (route,) = router.route(alert.labels)
    sent = [
        Item(alert, route.group_key(alert.labels), route, Mute("silence:7", "silenced by ann")),
        Item(alert, route.group_key(alert.labels), route, None),
    ]
    # Two requests, each encoded on its own; the second names the route sent with the
    # first, and arrives in two pieces.
    (rows1, routes1), (rows2, routes2) = encode_request(sent[:1]), encode_request(sent[1:])
    assert routes1 == routes2
    wire = frame(("i", 1, now, routes1, rows1)) + frame(("i", 2, now, {}, rows2))
    buffer = bytearray(wire[:-3])
    (first,) = split_frames(buffer)
    assert len(buffer) == len(wire) - 3 - len(frame(("i", 1, now, routes1, rows1)))
    buffer += wire[-3:]
    (second,) = split_frames(buffer)
    assert buffer == bytearray()
    assert first[:3] == ("i", 1, now) and second[:4] == ("i", 2, now, {})
    known = dict(first[3])
    received = decode_rows(first[4], known) + decode_rows(second[4], known)
    assert [(i.alert, i.group_key, i.route, i.mute) for i in received] == [
        (i.alert, i.group_key, i.route, i.mute) for i in sent
    ]
    assert received[0].alert.status is AlertStatus.FIRING


async def test_a_plan_comes_back_with_its_incidents_events_and_verdicts(
    sqlite_url: str, router: Router
) -> None:
    from bot.store.ingest import apply_batch

    store = Store(sqlite_url, ingest_process=False)
    await store.open()
    await store.close()
    engine = sa.create_engine(sqlite_url)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    sent = items(router, make_alert("DiskFull", pod="a"), make_alert("CPUHigh", pod="b"))
    with engine.begin() as conn:
        plan = apply_batch(conn, sent, now)
    engine.dispose()
    back, seconds = decode_plan(encode_plan(plan, 0.25))
    assert seconds == 0.25
    assert back.verdicts == plan.verdicts == [Verdict.NEW, Verdict.NEW]
    assert [(i.id, i.group_key, i.state, i.title, i.alert_count) for i in back.incidents] == [
        (i.id, i.group_key, i.state, i.title, i.alert_count) for i in plan.incidents
    ]
    assert [(e.kind, e.text, e.incident.id) for e in back.events] == [
        (e.kind, e.text, e.incident.id) for e in plan.events
    ]
    # Events point at the plan's own incidents, as on the writer thread.
    assert all(any(e.incident is i for i in back.incidents) for e in back.events)


async def _waiting_for_lock(url: str) -> None:
    """Until the ingest process is inside its transaction, waiting for the held lock."""
    if url.startswith("sqlite"):
        # SQLite shows no waiters; the batch is sent within milliseconds of being queued.
        await asyncio.sleep(0.5)
        return

    def waiting() -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
        return row is not None and row[0] > 0

    async def check() -> bool:
        return await asyncio.to_thread(waiting)

    await eventually(check)


async def test_a_process_that_dies_mid_batch_answers_retry_and_the_next_one_takes_over(
    database_url: str, router: Router
) -> None:
    """Whether the lost batch committed is unknown, so its sender is told to retry (503);
    the next batch starts a new process, and the retry lands once."""
    store = Store(database_url)
    await store.open()
    try:
        await store.ingest(items(router, make_alert("Warmup", pod="w")))
        first = store.ingest_pid
        assert first is not None
        blocker = _hold_write_lock(database_url)
        try:
            pending = asyncio.ensure_future(
                store.ingest(items(router, make_alert("Lost", pod="a")))
            )
            await _waiting_for_lock(database_url)
            os.kill(first, signal.SIGKILL)
            with pytest.raises(StoreUnavailable, match="ingest process exited"):
                await pending
        finally:
            blocker.rollback()
            blocker.close()
        retry = await store.ingest(items(router, make_alert("Lost", pod="a")))
        assert retry.verdicts == [Verdict.NEW]
        assert store.ingest_pid not in (None, first)
        again = await store.ingest(items(router, make_alert("Lost", pod="a")))
        assert again.verdicts == [Verdict.DUPLICATE]
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _first_batch_held(
    store: Store, database_url: str, router: Router
) -> AsyncIterator[asyncio.Future[Plan]]:
    """A webhook ("A") in the ingest process, waiting for a lock another client holds
    until the block ends; what is queued meanwhile waits behind it."""
    await store.ingest(items(router, make_alert("Warmup", pod="w")))
    blocker = _hold_write_lock(database_url)
    try:
        first = asyncio.ensure_future(store.ingest(items(router, make_alert("A", pod="a"))))
        await _waiting_for_lock(database_url)
        yield first
    finally:
        blocker.rollback()
        blocker.close()


async def test_webhooks_queued_while_the_process_commits_share_its_next_transaction(
    database_url: str, router: Router
) -> None:
    """Group commit: what queued while a batch was committing goes into one transaction,
    and every request of it gets the batch's plan."""
    batches: list[int] = []
    store = Store(database_url, observe=lambda plan, _seconds: batches.append(len(plan.verdicts)))
    await store.open()
    try:
        behind = []
        async with _first_batch_held(store, database_url, router) as first:
            for pod in "bcd":  # one at a time, as webhooks arrive
                webhook = items(router, make_alert("B", pod=pod))
                behind.append(asyncio.ensure_future(store.ingest(webhook)))
                await asyncio.sleep(0.05)
        plans = await asyncio.gather(first, *behind)
    finally:
        await store.close()
    assert batches == [1, 1, 3]
    assert plans[1] is plans[2] is plans[3]
    assert plans[1].verdicts == [Verdict.NEW] * 3


@pytest.mark.parametrize("process", [True, False], ids=["ingest-process", "writer-thread"])
async def test_a_bad_webhook_in_a_shared_transaction_fails_alone(
    database_url: str, router: Router, process: bool
) -> None:
    """Requests that share a transaction are applied one by one when it fails, so only
    the bad one is refused (here a row the database refuses: no group key)."""
    store = Store(database_url, ingest_process=process)
    await store.open()
    try:
        broken = items(router, make_alert("Broken", pod="x"))
        broken[0] = Item(broken[0].alert, None, broken[0].route)  # type: ignore[arg-type]
        sent = []
        async with _first_batch_held(store, database_url, router) as first:
            for webhook in (
                items(router, make_alert("B", pod="b")),
                broken,
                items(router, make_alert("C", pod="c")),
            ):
                sent.append(asyncio.ensure_future(store.ingest(webhook)))
                await asyncio.sleep(0.05)
        good, bad, other = await asyncio.gather(*sent, return_exceptions=True)
        assert (await first).verdicts == [Verdict.NEW]
    finally:
        await store.close()
    # The database's own error on the writer thread, its text from the ingest process.
    assert isinstance(bad, IngestFailed | sa.exc.IntegrityError) and "group_key" in str(bad)
    assert not isinstance(good, BaseException) and good.verdicts == [Verdict.NEW]
    assert not isinstance(other, BaseException) and other.verdicts == [Verdict.NEW]
    titles = {row[3] for row in _rows(database_url)["incidents"]}
    assert {"B", "C"} <= {t.split()[0] for t in titles} and not any("Broken" in t for t in titles)


async def test_a_write_on_the_writer_thread_sees_every_webhook_sent_before_it(
    database_url: str, router: Router
) -> None:
    """A write on the writer thread's own connection runs after the batches queued
    before it have committed in the ingest process: it never sees less. (A design that
    sends batches on without waiting for their answers must keep this.)"""
    store = Store(database_url)
    await store.open()
    try:
        async with _first_batch_held(store, database_url, router) as webhook:
            count = asyncio.ensure_future(
                store.write(
                    lambda conn: conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar()
                )
            )
            await asyncio.sleep(0.2)
            assert not count.done()
        await webhook
        assert await count == 2
    finally:
        await store.close()


async def test_interrupts_are_the_bots_to_handle_and_closing_ends_the_process(
    sqlite_url: str, router: Router
) -> None:
    """Ctrl-C reaches every process of the terminal's group: the ingest process must
    finish the batches queued at shutdown, so it ignores it and ends when told."""
    store = Store(sqlite_url)
    await store.open()
    await store.ingest(items(router, make_alert("A", pod="a")))
    pid = store.ingest_pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    plan = await store.ingest(items(router, make_alert("B", pod="b")))
    assert plan.verdicts == [Verdict.NEW]
    assert store.ingest_pid == pid
    await store.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_bot_that_exits_without_closing_the_store_does_not_hang(
    sqlite_url: str, config_dir: Path
) -> None:
    """The ingest process ignores SIGTERM; it must end when the bot is gone, and the
    bot's exit must not wait for it."""
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from bot.rules import Router, load_rules
        from bot.store import Store
        from tests.store.test_store import _hold_write_lock, items, make_alert

        async def main() -> None:
            store = Store({sqlite_url!r})
            await store.open()
            router = Router(load_rules(Path({str(config_dir)!r})))
            await store.ingest(items(router, make_alert("A", pod="a")))
            print(store.ingest_pid, flush=True)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[-1])

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    deadline = time.monotonic() + 30
    while not gone():
        assert time.monotonic() < deadline, f"ingest process {pid} outlived the bot"
        time.sleep(0.05)


async def test_the_ingest_process_runs_the_bots_code_not_the_working_directorys(
    sqlite_url: str, router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone of another version in the working directory (where operators keep
    rules/ and runbooks/) must not be what the ingest process imports."""
    elsewhere = tmp_path / "clone"
    (elsewhere / "bot" / "store").mkdir(parents=True)
    (elsewhere / "bot" / "__init__.py").write_text("")
    (elsewhere / "bot" / "store" / "__init__.py").write_text("")
    (elsewhere / "bot" / "store" / "ingest_process.py").write_text(
        "raise SystemExit('the working directory's copy ran')\n"
    )
    monkeypatch.chdir(elsewhere)
    store = Store(sqlite_url)
    await store.open()
    try:
        plan = await store.ingest(items(router, make_alert("A", pod="a")))
    finally:
        await store.close()
    assert plan.verdicts == [Verdict.NEW]

"""The store on SQLite and PostgreSQL: durable grouping, gap-free numbering, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session

from bot.incidents.grouping import Item, Verdict
from bot.ingest import Alert, AlertStatus, fingerprint
from bot.rules import Router
from bot.store import Store, queries
from bot.store.engine import MIGRATIONS, create_engine
from bot.store.ingest import _allocate
from bot.store.tables import metadata
from tests.helpers import PG_ADMIN_URL, Clock, eventually


def make_alert(
    name: str, status: str = "firing", *, starts: datetime | None = None, **labels: str
) -> Alert:
    labels = {"alertname": name, **labels}
    return Alert(
        labels,
        {},
        AlertStatus(status),
        starts or datetime(2026, 11, 20, 11, tzinfo=UTC),
        None,
        "",
        fingerprint(labels),
        "test",
    )


def items(router: Router, *alerts: Alert) -> list[Item]:
    out = []
    for a in alerts:
        for route in router.route(a.labels):
            out.append(Item(a, route.group_key(a.labels), route))
    return out


async def test_schema_from_migrations_matches_the_models(database_url: str) -> None:
    store = Store(database_url)
    await store.open()
    await store.close()
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()


async def test_upgrade_from_the_first_revision_keeps_data(sqlite_url: str) -> None:
    """An upgrade never needs a wipe: data written at 0001 survives the later revisions."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(sqlite_url, writer=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            sa.text(
                "INSERT INTO incidents (id, group_key, route_id, title, severity, notify_only, "
                "state, group_labels, created_at, updated_at, flap_count, firing_count, "
                "alert_count) VALUES "
                "(1, 'k', '{}', 'Old', 'critical', 0, 'triggered', '{}', '2026-01-01 00:00:00', "
                "'2026-01-01 00:00:00', 0, 1, 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO alerts (incident_id, fingerprint, status, labels, annotations, "
                "starts_at, generator_url, source, content_hash, first_seen, last_changed) "
                "VALUES (1, 'abc', 'firing', '{}', '{}', '2026-01-01 00:00:00', '', 'test', "
                "'h', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = Store(sqlite_url)
    await store.open()
    try:
        incident = await store.read(lambda s: queries.incident(s, 1))
        assert incident is not None and incident.title == "Old" and incident.muted_count == 0
        (alert,) = await store.read(lambda s: queries.incident_alerts(s, 1))
        assert alert.fingerprint == "abc" and alert.muted_by is None
    finally:
        await store.close()


async def test_group_resolve_and_timeline_in_one_transaction(
    database_url: str, router: Router
) -> None:
    clock = Clock()
    store = Store(database_url, clock=clock)
    await store.open()
    try:
        a, b = make_alert("A", pod="a"), make_alert("A", pod="b")
        plan = await store.ingest(items(router, a, b))
        assert plan.verdicts == [Verdict.NEW, Verdict.NEW]
        again = await store.ingest(items(router, a, b))
        assert again.verdicts == [Verdict.DUPLICATE, Verdict.DUPLICATE]
        clock.advance(minutes=1)
        await store.ingest(
            items(
                router, make_alert("A", "resolved", pod="a"), make_alert("A", "resolved", pod="b")
            )
        )
        incidents = await store.read(lambda s: queries.incidents(s))
        assert [(i.id, i.state, i.alert_count, i.firing_count) for i in incidents] == [
            (1, "resolved", 2, 0)
        ]
        assert incidents[0].resolved_at == clock.now
        events = await store.read(lambda s: queries.timeline(s, 1))
        assert [e.kind for e in events] == [
            "opened",
            "alerts_firing",
            "alerts_resolved",
            "resolved",
        ]
        assert events[1].text == "2 alerts firing: A"
        rows = await store.read(lambda s: queries.incident_alerts(s, 1))
        assert {r.status for r in rows} == {"resolved"}
    finally:
        await store.close()


async def test_state_survives_a_restart(database_url: str, router: Router) -> None:
    store = Store(database_url)
    await store.open()
    await store.ingest(items(router, make_alert("A")))
    await store.close()
    store = Store(database_url)
    await store.open()
    try:
        plan = await store.ingest(items(router, make_alert("A")))
        assert plan.verdicts == [Verdict.DUPLICATE]
        assert len(await store.read(lambda s: queries.incidents(s))) == 1
    finally:
        await store.close()


async def test_flapping_reopens_the_same_incident(database_url: str, router: Router) -> None:
    clock = Clock()
    store = Store(database_url, clock=clock)
    await store.open()
    try:
        first = clock.now - timedelta(minutes=1)
        await store.ingest(items(router, make_alert("A", starts=first)))
        await store.ingest(items(router, make_alert("A", "resolved", starts=first)))
        clock.advance(minutes=3)
        plan = await store.ingest(items(router, make_alert("A", starts=clock.now)))
        assert plan.verdicts == [Verdict.REFIRED]
        clock.advance(minutes=1)
        await store.ingest(items(router, make_alert("A", "resolved", starts=clock.now)))
        clock.advance(minutes=10)  # past the 5m flap window: a new incident
        await store.ingest(items(router, make_alert("A", starts=clock.now)))
        incidents = await store.read(lambda s: queries.incidents(s))
        assert [(i.id, i.state, i.flap_count) for i in incidents] == [
            (2, "triggered", 0),
            (1, "resolved", 1),
        ]
        kinds = [e.kind for e in await store.read(lambda s: queries.timeline(s, 1))]
        assert kinds.count("reopened") == 1 and kinds.count("resolved") == 2
    finally:
        await store.close()


async def test_numbers_are_unique_and_gap_free_under_concurrency(
    database_url: str, router: Router
) -> None:
    """Two stores (as two replicas would) and many concurrent requests, each opening a group."""
    stores = [Store(database_url), Store(database_url)]
    for store in stores:
        await store.open()
    try:
        groups = [f"G{i}" for i in range(60)]
        requests = [
            stores[i % 2].ingest(items(router, make_alert(name, pod=str(j))))
            for i, name in enumerate(groups * 2)
            for j in range(2)
        ]
        await asyncio.gather(*requests)
        incidents = await stores[0].read(lambda s: queries.incidents(s, limit=1000))
        assert sorted(i.id for i in incidents) == list(range(1, len(groups) + 1))
        assert sorted(i.title for i in incidents) == sorted(groups)  # one incident per group
        assert all(i.alert_count == 2 for i in incidents)
        opened = await stores[0].read(
            lambda s: s.exec(
                sa.text("SELECT count(*) FROM timeline_events WHERE kind='opened'")
            ).scalar()  # type: ignore[call-overload]
        )
        assert opened == len(groups)
    finally:
        for store in stores:
            await store.close()


async def test_a_rolled_back_number_is_given_again(database_url: str) -> None:
    store = Store(database_url)
    await store.open()
    try:

        def allocate_then_fail(conn: sa.Connection) -> None:
            assert list(_allocate(conn, 3)) == [1, 2, 3]
            raise RuntimeError("crash before commit")

        with pytest.raises(RuntimeError):
            await store.write(allocate_then_fail)
        assert list(await store.write(lambda c: _allocate(c, 1))) == [1]
    finally:
        await store.close()


async def test_store_down_raises_store_unavailable() -> None:
    from bot.store import StoreUnavailable

    store = Store("postgresql://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(StoreUnavailable, match="database unavailable"):
        await store.open()


async def test_close_waits_for_a_read_whose_caller_went_away(postgres_url: str) -> None:
    """Else the read's connection outlives the disposed engine, open until GC."""
    store = Store(postgres_url)
    await store.open()
    started = threading.Event()

    def slow(session: Session) -> int:
        started.set()
        time.sleep(0.3)
        return int(session.exec(sa.select(1)).one()[0])  # type: ignore[call-overload]

    caller = asyncio.ensure_future(store.read(slow))
    await asyncio.to_thread(started.wait, 5)
    caller.cancel()
    await store.close()
    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    assert left == (0,)


class _Blocker(Protocol):
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def _hold_write_lock(url: str) -> _Blocker:
    """Another client holding what the writer needs: SQLite's write lock, or the row
    that numbers incidents on PostgreSQL."""
    if url.startswith("sqlite"):
        lite = sqlite3.connect(url.removeprefix("sqlite:///"))
        lite.execute("BEGIN IMMEDIATE")
        return lite
    pg = psycopg.connect(url)
    pg.execute("SELECT * FROM counters FOR UPDATE")
    return pg


async def test_a_commit_slower_than_the_timeout_answers_unavailable_and_still_lands(
    database_url: str, router: Router
) -> None:
    """The sender is told to retry (503) before its own timeout, and nothing it sent is
    lost: the queued alerts are committed once the database lets the writer through."""
    from bot.store import StoreUnavailable

    store = Store(database_url)
    await store.open()
    blocker = _hold_write_lock(database_url)
    try:
        store.ingest_timeout = 0.3
        with pytest.raises(StoreUnavailable, match="longer than"):
            await store.ingest(items(router, make_alert("Slow", pod="a")))
    finally:
        blocker.rollback()
        blocker.close()
    try:
        landed = await eventually(lambda: store.read(lambda s: queries.incident(s, 1)), within=20)
        assert (landed.title, landed.alert_count) == ("Slow", 1)
        # The retry the sender makes is a duplicate: it changes nothing.
        retry = await store.ingest(items(router, make_alert("Slow", pod="a")))
        assert retry.verdicts == [Verdict.DUPLICATE]
    finally:
        await store.close()


async def test_pending_outbox_lookups_skip_the_delivered_history(sqlite_url: str) -> None:
    """A long storm leaves thousands of delivered entries on one incident; finding its
    pending ones (every claim, every webhook's enqueue) must not read them all."""
    from bot.store import outbox
    from bot.store.sql import Sql, enqueue_updates

    store = Store(sqlite_url)
    await store.open()
    await store.close()
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as lite:
        lite.execute(
            "INSERT INTO incidents (id, group_key, route_id, title, severity, state, "
            "group_labels, created_at, updated_at, flap_count, firing_count, alert_count, "
            "muted_count, notify_only) VALUES (1, 'k', 'r', 'Storm', 'critical', 'triggered', "
            "'{}', '2026-11-20 11:00:00.000000', '2026-11-20 11:00:00.000000', 0, 0, 0, 0, 0)"
        )
        lite.executemany(
            "INSERT INTO outbox (incident_id, kind, created_at, due_at, attempts, done_at) "
            "VALUES (1, 'update', ?, ?, 1, ?)",
            [("2026-11-20 11:00:00.000000",) * 3] * 5000
            + [("2026-11-20 11:00:00.000000", "2026-11-20 11:00:00.000000", None)],
        )
    engine = create_engine(sqlite_url, writer=True)
    seen: list[tuple[str, Any]] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().startswith("SELECT") and "done_at IS NULL" in statement:
            seen.append((statement, params))

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with engine.begin() as conn:
        (delivery,) = outbox.claim(conn, now)
        assert delivery.incident.title == "Storm"
        sql = Sql(conn)
        enqueue_updates(sql, [1], sql.ts(now))
    engine.dispose()
    assert len(seen) >= 2
    with sqlite3.connect(path) as lite:
        for statement, params in seen:
            plan = [row[3] for row in lite.execute("EXPLAIN QUERY PLAN " + statement, params)]
            by_incident = [step for step in plan if "incident_id=?" in step and "outbox" in step]
            by_incident += [step for step in plan if "earlier" in step]
            assert by_incident, plan
            assert all("ix_outbox_pending" in step for step in by_incident), plan

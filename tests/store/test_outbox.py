"""The outbox on both backends: what a claim carries, and how a round is recorded."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.metrics import Metrics
from bot.notify.base import EventView, IncidentView
from bot.notify.dispatcher import Dispatcher
from bot.rules import Router
from bot.store import Store, outbox
from bot.store.engine import create_engine
from bot.store.tables import incidents, notify_cursors, timeline
from bot.store.tables import outbox as outbox_table
from tests.helpers import eventually
from tests.store.test_store import items, make_alert

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
EARLIER = NOW - timedelta(minutes=5)


def _incident(number: int) -> dict[str, object]:
    return {
        "id": number,
        "group_key": f"k{number}",
        "route_id": "r",
        "title": f"Incident {number}",
        "severity": "critical",
        "state": "triggered",
        "channel": "#ops",
        "created_at": EARLIER,
        "updated_at": EARLIER,
    }


async def test_one_claim_carries_each_incidents_own_events_after_its_cursor(
    database_url: str,
) -> None:
    """Several entries claimed at once each get their incident's events after its own
    cursor, in order, at most 200; the rest go out in the next delivery."""
    store = Store(database_url)
    await store.open()
    await store.close()
    engine = create_engine(database_url, writer=True)
    try:
        with engine.begin() as conn:
            conn.execute(incidents.insert(), [_incident(n) for n in (1, 2, 3, 4)])
            # Interleaved, as concurrent incidents write them: 1, 2, 3, 1, 2, 3, ...
            rows = []
            for i in range(250):
                for number in (1, 2, 3):
                    if number == 2 or i < 5:
                        rows.append(
                            {
                                "incident_id": number,
                                "at": EARLIER,
                                "kind": "alerts_firing",
                                "actor": "alertmanager",
                                "text": f"{number}/{i}",
                            }
                        )
            conn.execute(timeline.insert(), rows)
            ids = {
                number: [
                    event_id
                    for (event_id,) in conn.execute(
                        sa.select(timeline.c.id)
                        .where(timeline.c.incident_id == number)
                        .order_by(timeline.c.id)
                    )
                ]
                for number in (1, 2, 3)
            }
            conn.execute(
                notify_cursors.insert(),
                [
                    {"incident_id": 1, "last_event_id": ids[1][1], "message_ref": "m1"},
                    {"incident_id": 3, "last_event_id": ids[3][-1], "message_ref": "m3"},
                ],
            )
            for number in (1, 2, 3):
                conn.execute(
                    outbox_table.insert().values(
                        incident_id=number,
                        kind="update",
                        created_at=EARLIER,
                        due_at=EARLIER,
                        attempts=0,
                    )
                )
            conn.execute(
                outbox_table.insert().values(
                    incident_id=4,
                    kind="page",
                    created_at=EARLIER,
                    due_at=EARLIER,
                    attempts=0,
                    payload='{"user": "carol"}',
                )
            )

        with engine.begin() as conn:
            claimed = {d.incident.id: d for d in outbox.claim(conn, NOW)}
        assert sorted(claimed) == [1, 2, 3, 4]
        first, storm, told, page = (claimed[n] for n in (1, 2, 3, 4))
        assert [e.id for e in first.events] == ids[1][2:]
        assert [e.text for e in first.events] == ["1/2", "1/3", "1/4"]
        assert (first.last_event_id, first.message_ref) == (ids[1][1], "m1")
        assert [e.id for e in storm.events] == ids[2][:200]
        assert storm.last_event_id == 0 and storm.message_ref is None
        assert told.events == [] and told.last_event_id == ids[3][-1]
        assert (page.kind, page.events, page.payload) == ("page", [], {"user": "carol"})
        assert all(d.attempts == 1 for d in claimed.values())

        with engine.begin() as conn:
            # Incident 3 changes while its entry is in flight, and an update is queued.
            conn.execute(
                timeline.insert().values(
                    incident_id=3, at=NOW, kind="acknowledged", actor="carol", text="ack"
                )
            )
            conn.execute(
                outbox_table.insert().values(
                    incident_id=3, kind="update", created_at=NOW, due_at=NOW, attempts=0
                )
            )
            for delivery, ref in ((first, "m1"), (storm, "m2"), (told, "m3"), (page, None)):
                outbox.complete(conn, delivery, ref, NOW)
            pending = conn.execute(
                sa.select(outbox_table.c.incident_id, sa.func.count())
                .where(outbox_table.c.done_at.is_(None))
                .group_by(outbox_table.c.incident_id)
            ).all()
            cursors = dict(
                conn.execute(
                    sa.select(notify_cursors.c.incident_id, notify_cursors.c.last_event_id)
                ).all()
            )
        # 1: told everything, nothing queued; 2: the rest queued; 3: one update, not two.
        assert sorted(pending) == [(2, 1), (3, 1)]
        assert cursors == {1: ids[1][-1], 2: ids[2][199], 3: ids[3][-1]}
        with engine.begin() as conn:
            again = {d.incident.id: d for d in outbox.claim(conn, NOW)}
        assert sorted(again) == [2, 3]
        rest, update = again[2], again[3]
        assert [e.id for e in rest.events] == ids[2][200:]
        assert (rest.last_event_id, rest.message_ref) == (ids[2][199], "m2")
        assert [e.text for e in update.events] == ["ack"]
    finally:
        engine.dispose()


class _Sink:
    """Takes every post at once; the first one also makes the writer busy until `gate`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.posted: list[str] = []
        self.started, self.gate = threading.Event(), threading.Event()
        self.blocker: asyncio.Future[None] | None = None

    def _busy(self, _conn: Connection) -> None:
        self.started.set()
        self.gate.wait(10)

    async def incident_changed(
        self, incident: IncidentView, events: list[EventView], message_ref: str | None
    ) -> str | None:
        self.posted.append(incident.title)
        if self.blocker is None:
            self.blocker = asyncio.ensure_future(self.store.write(self._busy))
            await eventually(self.started.is_set)
        return f"ref-{incident.id}"

    async def page(self, incident: IncidentView, user: str, contact: str | None, why: str) -> None:
        raise AssertionError("nobody is paged here")

    async def notify_user(self, user: str, text: str) -> None:
        raise AssertionError("nobody is messaged here")


async def test_a_channel_posts_on_while_the_records_of_its_round_wait_for_the_writer(
    database_url: str, router: Router
) -> None:
    """The next message of a channel does not wait for the last one's record to commit,
    so a round's records can share a transaction; each is still recorded, and the round
    ends only when all are."""
    store = Store(database_url)
    await store.open()
    try:
        await store.ingest(items(router, *(make_alert(name) for name in ("A", "B", "C"))))
        sink = _Sink(store)
        dispatcher = Dispatcher(store, sink, Metrics())
        round_ = asyncio.ensure_future(dispatcher.deliver_due())
        # The writer is busy from the first post on: the first record cannot commit.
        await eventually(lambda: len(sink.posted) == 3)
        assert not round_.done()
        sink.gate.set()
        assert await round_ == 3
        assert sorted(sink.posted) == ["A", "B", "C"]

        def pending_and_refs(conn: Connection) -> tuple[int, list[str | None]]:
            pending = conn.execute(
                sa.select(sa.func.count())
                .select_from(outbox_table)
                .where(outbox_table.c.done_at.is_(None))
            ).scalar_one()
            refs = conn.execute(sa.select(notify_cursors.c.message_ref)).scalars().all()
            return pending, sorted(refs)

        pending, refs = await store.write(pending_and_refs)
        assert pending == 0
        assert refs == sorted(f"ref-{n}" for n in (1, 2, 3))
    finally:
        await store.close()

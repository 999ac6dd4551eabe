"""Outbox claims: due entries are leased so that one replica delivers each, and a crashed
replica's lease runs out so another retries it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.notify.base import EventView, IncidentView
from bot.store.tables import incidents, notify_cursors, outbox, timeline

LEASE = timedelta(seconds=60)
_EVENTS_PER_DELIVERY = 200


@dataclass(frozen=True, slots=True)
class Delivery:
    entry_id: int
    attempts: int
    incident: IncidentView
    events: list[EventView]
    message_ref: str | None
    last_event_id: int
    kind: str = "update"
    payload: dict[str, Any] | None = None


def claim(conn: Connection, now: datetime, limit: int = 50) -> list[Delivery]:
    due = (
        sa.select(outbox.c.id)
        .where(outbox.c.done_at.is_(None), outbox.c.due_at <= now)
        .order_by(outbox.c.due_at, outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(ids))
        .values(due_at=now + LEASE, attempts=outbox.c.attempts + 1)
    )
    rows = conn.execute(
        sa.select(
            outbox.c.id.label("entry_id"),
            outbox.c.attempts.label("entry_attempts"),
            outbox.c.kind.label("entry_kind"),
            outbox.c.payload.label("entry_payload"),
            notify_cursors.c.last_event_id,
            notify_cursors.c.message_ref,
            *incidents.c,
        )
        .join(incidents, incidents.c.id == outbox.c.incident_id)
        .outerjoin(notify_cursors, notify_cursors.c.incident_id == outbox.c.incident_id)
        .where(outbox.c.id.in_(ids))
        .order_by(outbox.c.id)
    ).all()
    deliveries = []
    for row in rows:
        if row.entry_kind != "update":
            deliveries.append(
                Delivery(
                    row.entry_id,
                    row.entry_attempts,
                    IncidentView.from_row(row),
                    [],
                    row.message_ref,
                    row.last_event_id or 0,
                    row.entry_kind,
                    orjson.loads(row.entry_payload or "{}"),
                )
            )
            continue
        after = row.last_event_id or 0
        events = [
            EventView(e.id, e.at, e.kind, e.actor, e.text)
            for e in conn.execute(
                sa.select(timeline)
                .where(timeline.c.incident_id == row.id, timeline.c.id > after)
                .order_by(timeline.c.id)
                .limit(_EVENTS_PER_DELIVERY)
            )
        ]
        deliveries.append(
            Delivery(
                row.entry_id,
                row.entry_attempts,
                IncidentView.from_row(row),
                events,
                row.message_ref,
                after,
            )
        )
    return deliveries


def complete(conn: Connection, delivery: Delivery, message_ref: str | None, now: datetime) -> None:
    conn.execute(outbox.update().where(outbox.c.id == delivery.entry_id).values(done_at=now))
    if delivery.kind != "update":
        return
    last = delivery.events[-1].id if delivery.events else delivery.last_event_id
    updated = conn.execute(
        notify_cursors.update()
        .where(notify_cursors.c.incident_id == delivery.incident.id)
        .values(last_event_id=last, message_ref=message_ref)
    )
    if updated.rowcount == 0:
        conn.execute(
            notify_cursors.insert().values(
                incident_id=delivery.incident.id, last_event_id=last, message_ref=message_ref
            )
        )
    if len(delivery.events) == _EVENTS_PER_DELIVERY:
        # More events than one delivery carries: queue the rest right away.
        conn.execute(
            outbox.insert().values(
                incident_id=delivery.incident.id,
                kind="update",
                created_at=now,
                due_at=now,
                attempts=0,
            )
        )


def fail(conn: Connection, delivery: Delivery, error: str, now: datetime) -> None:
    backoff = min(timedelta(seconds=2 ** min(delivery.attempts, 8)), timedelta(minutes=5))
    conn.execute(
        outbox.update()
        .where(outbox.c.id == delivery.entry_id)
        .values(due_at=now + backoff, last_error=error[:500])
    )


def skip(conn: Connection, delivery: Delivery, now: datetime) -> None:
    conn.execute(outbox.update().where(outbox.c.id == delivery.entry_id).values(done_at=now))

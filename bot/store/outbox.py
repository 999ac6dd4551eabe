"""Outbox claims: due entries are leased so that one replica delivers each, and a crashed
replica's lease runs out so another retries it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from bot.notify.base import AlertView, EventView, IncidentView
from bot.store.tables import alerts, incidents, notify_cursors, outbox, timeline

LEASE = timedelta(seconds=60)
_EVENTS_PER_DELIVERY = 200


# Built once: building a statement cost more than running it (claims run many times a
# second under load).
_earlier = outbox.alias("earlier")
_DUE = (
    sa.select(outbox.c.id, incidents.c.channel)
    .join(incidents, incidents.c.id == outbox.c.incident_id)
    .where(
        outbox.c.done_at.is_(None),
        outbox.c.due_at <= sa.bindparam("now", type_=outbox.c.due_at.type),
        # Not while an older entry of the incident is pending: chat sees its changes
        # in order.
        ~sa.select(_earlier.c.id)
        .where(
            _earlier.c.incident_id == outbox.c.incident_id,
            _earlier.c.done_at.is_(None),
            _earlier.c.id < outbox.c.id,
        )
        .exists(),
    )
    .order_by(outbox.c.due_at, outbox.c.id)
    .limit(sa.bindparam("take", type_=sa.Integer))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True, of=outbox)
_DONE = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("entry"))
    .values(done_at=sa.bindparam("at", type_=outbox.c.done_at.type))
)
_at = sa.bindparam("at", type_=outbox.c.created_at.type)
_incident = sa.bindparam("incident", type_=sa.Integer)
# An update entry for the events after `last`, unless there are none or one is pending.
_REST = outbox.insert().from_select(
    ["incident_id", "kind", "created_at", "due_at", "attempts"],
    sa.select(_incident, sa.literal("update"), _at, _at, sa.literal(0)).where(
        sa.select(timeline.c.id)
        .where(timeline.c.incident_id == _incident, timeline.c.id > sa.bindparam("last"))
        .exists(),
        ~sa.select(outbox.c.id)
        .where(
            outbox.c.incident_id == _incident,
            outbox.c.kind == "update",
            outbox.c.done_at.is_(None),
        )
        .exists(),
    ),
)


def _upsert_ref(insert: Any) -> Any:
    stmt = insert(notify_cursors)
    return stmt.on_conflict_do_update(
        index_elements=[notify_cursors.c.incident_id],
        set_={
            "last_event_id": stmt.excluded.last_event_id,
            "message_ref": stmt.excluded.message_ref,
        },
    )


_KEEP_REF_LITE, _KEEP_REF_PG = _upsert_ref(sqlite.insert), _upsert_ref(postgresql.insert)
_CLAIMED = (
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
    .where(outbox.c.id.in_(sa.bindparam("entry_ids", expanding=True)))
    .order_by(outbox.c.id)
)
_RANKED = (
    sa.select(
        outbox.c.id.label("entry_id"),
        timeline.c.id,
        timeline.c.at,
        timeline.c.kind,
        timeline.c.actor,
        timeline.c.text,
        sa.func.row_number().over(partition_by=outbox.c.id, order_by=timeline.c.id).label("rank"),
    )
    .join(timeline, timeline.c.incident_id == outbox.c.incident_id)
    .outerjoin(notify_cursors, notify_cursors.c.incident_id == outbox.c.incident_id)
    .where(
        outbox.c.id.in_(sa.bindparam("entry_ids", expanding=True)),
        timeline.c.id > sa.func.coalesce(notify_cursors.c.last_event_id, 0),
    )
    .subquery()
)
_EVENTS = (
    sa.select(_RANKED)
    .where(_RANKED.c.rank <= _EVENTS_PER_DELIVERY)
    .order_by(_RANKED.c.entry_id, _RANKED.c.id)
)


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


def claim(
    conn: Connection, now: datetime, limit: int = 50, per_channel: int | None = None
) -> list[Delivery]:
    """Due entries, each the oldest pending one of its incident (chat sees an incident's
    changes in order), at most `per_channel` per channel (pacing at ~1 message/s must
    not keep a claimed entry past its lease)."""
    due = _DUE_LOCKED if conn.dialect.name == "postgresql" else _DUE
    take = limit if per_channel is None else limit * 4
    taken: dict[str | None, int] = {}
    ids: list[int] = []
    for entry_id, channel in conn.execute(due, {"now": now, "take": take}):
        if per_channel is not None and taken.get(channel, 0) >= per_channel:
            continue
        taken[channel] = taken.get(channel, 0) + 1
        ids.append(entry_id)
        if len(ids) == limit:
            break
    if not ids:
        return []
    conn.execute(
        outbox.update()
        .where(outbox.c.id.in_(ids))
        .values(due_at=now + LEASE, attempts=outbox.c.attempts + 1)
    )
    rows = conn.execute(_CLAIMED, {"entry_ids": ids}).all()
    events = _events(conn, [row.entry_id for row in rows if row.entry_kind == "update"])
    deliveries = []
    for row in rows:
        update = row.entry_kind == "update"
        deliveries.append(
            Delivery(
                row.entry_id,
                row.entry_attempts,
                IncidentView.from_row(row),
                events.get(row.entry_id, []) if update else [],
                row.message_ref,
                row.last_event_id or 0,
                row.entry_kind,
                None if update else orjson.loads(row.entry_payload or "{}"),
            )
        )
    return deliveries


def _events(conn: Connection, entry_ids: list[int]) -> dict[int, list[EventView]]:
    """What each update entry tells: its incident's events after the cursor, oldest
    first, at most `_EVENTS_PER_DELIVERY`. One statement for the whole claim: one per
    entry made a claim of 16 entries cost 8 ms of the single writer's time."""
    if not entry_ids:
        return {}
    out: dict[int, list[EventView]] = {}
    for e in conn.execute(_EVENTS, {"entry_ids": entry_ids}):
        out.setdefault(e.entry_id, []).append(EventView(e.id, e.at, e.kind, e.actor, e.text))
    return out


def complete(conn: Connection, delivery: Delivery, message_ref: str | None, now: datetime) -> None:
    conn.execute(_DONE, {"entry": delivery.entry_id, "at": now})
    if delivery.kind != "update":
        return
    last = delivery.events[-1].id if delivery.events else delivery.last_event_id
    _keep_ref(conn, delivery.incident.id, last, message_ref)
    # Changes made while this entry was in flight found it pending and queued nothing;
    # more events than one delivery carries wait too. Either way: queue the rest now.
    conn.execute(_REST, {"incident": delivery.incident.id, "last": last, "at": now})


def fail(
    conn: Connection,
    delivery: Delivery,
    error: str,
    now: datetime,
    *,
    retry_after: float | None = None,
    message_ref: str | None = None,
) -> None:
    """Try again later: after `retry_after` seconds when chat named a time (a 429), else
    with exponential backoff. A `message_ref` posted before the failure is kept, so the
    retry updates that message instead of posting another."""
    if retry_after is not None:
        wait = timedelta(seconds=retry_after)
    else:
        wait = min(timedelta(seconds=2 ** min(delivery.attempts, 8)), timedelta(minutes=5))
    conn.execute(
        outbox.update()
        .where(outbox.c.id == delivery.entry_id)
        .values(due_at=now + wait, last_error=error[:500])
    )
    if message_ref is not None and delivery.kind == "update":
        _keep_ref(conn, delivery.incident.id, delivery.last_event_id, message_ref)


def _keep_ref(conn: Connection, incident_id: int, last_event_id: int, ref: str | None) -> None:
    upsert = _KEEP_REF_PG if conn.dialect.name == "postgresql" else _KEEP_REF_LITE
    conn.execute(
        upsert, {"incident_id": incident_id, "last_event_id": last_event_id, "message_ref": ref}
    )


def release(conn: Connection, entry_ids: list[int], now: datetime) -> None:
    """Entries claimed by a bot that is stopping: due again now, not when the lease ends.
    Their attempt stays counted, so the next try looks for what this one may have posted."""
    if entry_ids:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(entry_ids), outbox.c.done_at.is_(None))
            .values(due_at=now)
        )


def skip(conn: Connection, delivery: Delivery, now: datetime) -> None:
    conn.execute(_DONE, {"entry": delivery.entry_id, "at": now})


@dataclass(frozen=True, slots=True)
class Extras:
    """Rows a rich chat message shows beyond the incident: a sample of its alerts
    (firing first) and who its latest pages went to."""

    route_id: str
    alerts: list[AlertView]
    paged: list[str]


def extras(conn: Connection, incident_id: int, alerts_limit: int = 25) -> Extras | None:
    route_id = conn.execute(
        sa.select(incidents.c.route_id).where(incidents.c.id == incident_id)
    ).scalar()
    if route_id is None:
        return None
    rows = conn.execute(
        sa.select(alerts)
        .where(alerts.c.incident_id == incident_id)
        .order_by(sa.case((alerts.c.status == "firing", 0), else_=1), alerts.c.starts_at)
        .limit(alerts_limit)
    ).all()
    sample = [
        AlertView(
            r.fingerprint,
            r.status,
            orjson.loads(r.labels),
            orjson.loads(r.annotations),
            r.generator_url,
            r.starts_at,
        )
        for r in rows
    ]
    paged: list[str] = []
    for (data,) in conn.execute(
        sa.select(timeline.c.data)
        .where(timeline.c.incident_id == incident_id, timeline.c.kind == "paged")
        .order_by(timeline.c.id.desc())
        .limit(5)
    ):
        for user in orjson.loads(data or "{}").get("users", []):
            if user not in paged:
                paged.append(str(user))
    return Extras(str(route_id), sample, paged)

"""The escalation tick: one write transaction claims the due escalations, records every
page (timeline event + outbox entry) and moves each escalation to its next due time.

Because the claim, the record and the advance commit together, a page is recorded
exactly once: a crash before commit pages on the next tick (late, not lost); two
replicas skip each other's rows (`FOR UPDATE SKIP LOCKED`) on PostgreSQL, and SQLite
has a single writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.rules.model import DAYS, During, EscalationPolicy, Step
from bot.store.sql import Sql, enqueue_updates
from bot.store.tables import escalations, incidents, outbox, timeline

Resolver = Callable[[Step, datetime], list[str]]
_BATCH = 500


@dataclass(frozen=True, slots=True)
class Page:
    incident_id: int
    user: str
    round: int
    step: int
    notify: str


def within(during: During | None, at: datetime, tz: str) -> bool:
    if during is None:
        return True
    local = at.astimezone(ZoneInfo(tz))
    day, clock = DAYS[local.weekday()], local.time().replace(tzinfo=None)
    if during.to > during.from_:
        return day in during.days and during.from_ <= clock < during.to
    yesterday = DAYS[(local.weekday() - 1) % 7]
    return (day in during.days and clock >= during.from_) or (
        yesterday in during.days and clock < during.to
    )


def next_window(during: During, after: datetime, tz: str) -> datetime:
    """The first minute at or after `after` inside the step's window (within 8 days)."""
    at = after.replace(second=0, microsecond=0)
    if at < after:
        at += timedelta(minutes=1)
    for _ in range(8 * 24 * 60):
        if within(during, at, tz):
            return at
        at += timedelta(minutes=1)
    return at  # a window that never opens: checked by `pagerbot check`


def _due(conn: Connection, now: datetime) -> list[Any]:
    firing_muted = sa.and_(
        incidents.c.firing_count > 0, incidents.c.muted_count == incidents.c.firing_count
    )
    query = (
        sa.select(escalations, incidents.c.state, incidents.c.title)
        .join(incidents, incidents.c.id == escalations.c.incident_id)
        .where(escalations.c.due_at.is_not(None), escalations.c.due_at <= now)
        .where(
            sa.or_(
                incidents.c.state == "triggered",
                sa.and_(incidents.c.state == "acknowledged", escalations.c.reason == "ack expired"),
            )
        )
        .where(sa.not_(firing_muted))  # muted: wait; pages go out when the mute ends
        .order_by(escalations.c.due_at)
        .limit(_BATCH)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=escalations, skip_locked=True)
    return list(conn.execute(query))


def tick(
    conn: Connection,
    policies: dict[str, EscalationPolicy],
    resolve: Resolver,
    contacts: dict[str, str | None],
    now: datetime,
) -> list[Page]:
    pages: list[Page] = []
    touched: set[int] = set()
    for row in _due(conn, now):
        touched.add(row.incident_id)
        policy = policies.get(row.policy)
        if policy is None:
            _event(
                conn,
                row.incident_id,
                now,
                "escalation_stopped",
                f"Escalation stopped: policy {row.policy!r} no longer exists",
                {},
            )
            conn.execute(
                escalations.update()
                .where(escalations.c.incident_id == row.incident_id)
                .values(due_at=None)
            )
            continue
        if row.state == "acknowledged":
            conn.execute(
                incidents.update()
                .where(incidents.c.id == row.incident_id)
                .values(state="triggered", acknowledged_at=None, updated_at=now)
            )
            _event(
                conn,
                row.incident_id,
                now,
                "ack_expired",
                "Acknowledgement expired while still firing: escalating again",
                {},
            )
        pages.extend(_advance(conn, row, policy, resolve, contacts, now))
    if touched:
        sql = Sql(conn)
        enqueue_updates(sql, sorted(touched), sql.ts(now))
    return pages


def _advance(
    conn: Connection,
    row: Any,
    policy: EscalationPolicy,
    resolve: Resolver,
    contacts: dict[str, str | None],
    now: datetime,
) -> list[Page]:
    plan = policy.timeline()
    index, due_at = row.next_index, None
    pages: list[Page] = []
    while index < len(plan):
        offset, round_, number, step = plan[index]
        due = row.started_at + offset
        if due > now:
            due_at = due
            break
        if not within(step.during, now, policy.timezone):
            assert step.during is not None
            due_at = next_window(step.during, now, policy.timezone)
            _event(
                conn,
                row.incident_id,
                now,
                "escalation_waiting",
                f"Step {number} ({step.notify}) waits for its window",
                {"until": str(due_at)},
            )
            break
        users = resolve(step, now)
        why = f"round {round_} step {number}: {step.notify}" + (
            f" ({row.reason})" if row.reason not in ("opened",) and index == row.next_index else ""
        )
        if users:
            _event(
                conn,
                row.incident_id,
                now,
                "paged",
                f"Paged {', '.join(users)} ({why})",
                {"users": users, "round": round_, "step": number, "notify": step.notify},
            )
            conn.execute(
                outbox.insert(),
                [
                    {
                        "incident_id": row.incident_id,
                        "kind": "page",
                        "created_at": now,
                        "due_at": now,
                        "attempts": 0,
                        "payload": orjson.dumps(
                            {"user": u, "contact": contacts.get(u), "why": why}
                        ).decode(),
                    }
                    for u in users
                ],
            )
            pages.extend(Page(row.incident_id, u, round_, number, step.notify) for u in users)
        else:
            _event(
                conn,
                row.incident_id,
                now,
                "page_gap",
                f"Nobody to page for {step.notify} (gap in coverage) ({why})",
                {"notify": step.notify},
            )
        index += 1
    conn.execute(
        escalations.update()
        .where(escalations.c.incident_id == row.incident_id)
        .values(
            next_index=index,
            due_at=due_at,
            reason="opened" if row.reason == "ack expired" else row.reason,
        )
    )
    return pages


def _event(
    conn: Connection, incident_id: int, now: datetime, kind: str, text: str, data: dict[str, Any]
) -> None:
    conn.execute(
        timeline.insert().values(
            incident_id=incident_id,
            at=now,
            kind=kind,
            actor="escalation",
            text=text,
            data=orjson.dumps(data).decode(),
        )
    )

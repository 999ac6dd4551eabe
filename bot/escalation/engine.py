"""The escalation tick: one write transaction claims the due escalations, records every
page (timeline event + outbox entry) and moves each escalation to its next due time.

Because the claim, the record and the advance commit together, a page is recorded
exactly once: a crash before commit pages on the next tick (late, not lost); two
replicas skip each other's rows (`FOR UPDATE SKIP LOCKED`) on PostgreSQL, and SQLite
has a single writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.rules.model import DAYS, During, EscalationPolicy, Step
from bot.store.sql import Sql, enqueue_updates
from bot.store.tables import escalations, incidents, outbox, timeline

Resolver = Callable[[Step, datetime], list[str]]
BATCH = 500  # escalations per transaction: a storm is paged in several short commits


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
    # Through a function, state cannot drive SQLite's plan: every open incident matches
    # it, and the due-time index is what finds the few due rows among thousands.
    state = sa.func.coalesce(incidents.c.state, "")
    firing_muted = sa.and_(
        incidents.c.firing_count > 0, incidents.c.muted_count == incidents.c.firing_count
    )
    query = (
        sa.select(escalations, incidents.c.state, incidents.c.title)
        .join(incidents, incidents.c.id == escalations.c.incident_id)
        .where(escalations.c.due_at.is_not(None), escalations.c.due_at <= now)
        .where(
            sa.or_(
                state == "triggered",
                sa.and_(state == "acknowledged", escalations.c.reason == "ack expired"),
            )
        )
        .where(sa.not_(firing_muted))  # muted: wait; pages go out when the mute ends
        .order_by(escalations.c.due_at)
        .limit(BATCH)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=escalations, skip_locked=True)
    return list(conn.execute(query))


@dataclass(frozen=True, slots=True)
class TickResult:
    pages: list[Page]
    more: bool  # a full batch was claimed: more may be due now
    next_due: datetime | None  # the earliest due time left, to sleep until


def next_due(conn: Connection, now: datetime) -> datetime | None:
    """The next due time after now (rows already due but waiting, e.g. muted, are
    looked at by every regular tick)."""
    query = sa.select(sa.func.min(escalations.c.due_at)).where(escalations.c.due_at > now)
    value = conn.execute(query).scalar()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands an aggregate back untyped
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def tick_batch(
    conn: Connection,
    policies: dict[str, EscalationPolicy],
    resolve: Resolver,
    contacts: dict[str, str | None],
    now: datetime,
) -> TickResult:
    rows = _due(conn, now)
    pages = _page_rows(conn, rows, policies, resolve, contacts, now)
    return TickResult(pages, len(rows) == BATCH, next_due(conn, now))


def tick(
    conn: Connection,
    policies: dict[str, EscalationPolicy],
    resolve: Resolver,
    contacts: dict[str, str | None],
    now: datetime,
) -> list[Page]:
    """One batch (see `tick_batch`)."""
    return _page_rows(conn, _due(conn, now), policies, resolve, contacts, now)


@dataclass(slots=True)
class _Writes:
    """What one batch writes, sent as a few executemany statements: per-row statements
    cost more in SQLAlchemy than the database work itself."""

    now: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    retriggered: list[int] = field(default_factory=list)

    def event(self, incident_id: int, kind: str, text: str, data: dict[str, Any]) -> None:
        self.events.append(
            {
                "incident_id": incident_id,
                "at": self.now,
                "kind": kind,
                "actor": "escalation",
                "text": text,
                "data": orjson.dumps(data).decode(),
            }
        )

    def flush(self, conn: Connection) -> None:
        if self.retriggered:
            conn.execute(
                incidents.update()
                .where(incidents.c.id.in_(self.retriggered))
                .values(state="triggered", acknowledged_at=None, updated_at=self.now)
            )
        if self.events:
            conn.execute(timeline.insert(), self.events)
        if self.pages:
            conn.execute(outbox.insert(), self.pages)
        if self.moves:
            conn.execute(
                escalations.update()
                .where(escalations.c.incident_id == sa.bindparam("b_id"))
                .values(
                    next_index=sa.bindparam("b_next"),
                    due_at=sa.bindparam("b_due"),
                    reason=sa.bindparam("b_reason"),
                ),
                self.moves,
            )


def _page_rows(
    conn: Connection,
    rows: list[Any],
    policies: dict[str, EscalationPolicy],
    resolve: Resolver,
    contacts: dict[str, str | None],
    now: datetime,
) -> list[Page]:
    writes = _Writes(now)
    pages: list[Page] = []
    for row in rows:
        policy = policies.get(row.policy)
        if policy is None:
            writes.event(
                row.incident_id,
                "escalation_stopped",
                f"Escalation stopped: policy {row.policy!r} no longer exists",
                {},
            )
            writes.moves.append(
                {
                    "b_id": row.incident_id,
                    "b_next": row.next_index,
                    "b_due": None,
                    "b_reason": row.reason,
                }
            )
            continue
        if row.state == "acknowledged":
            writes.retriggered.append(row.incident_id)
            writes.event(
                row.incident_id,
                "ack_expired",
                "Acknowledgement expired while still firing: escalating again",
                {},
            )
        pages.extend(_advance(writes, row, policy, resolve, contacts, now))
    writes.flush(conn)
    if rows:
        sql = Sql(conn)
        enqueue_updates(sql, sorted({row.incident_id for row in rows}), sql.ts(now))
    return pages


def _advance(
    writes: _Writes,
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
            writes.event(
                row.incident_id,
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
            writes.event(
                row.incident_id,
                "paged",
                f"Paged {', '.join(users)} ({why})",
                {"users": users, "round": round_, "step": number, "notify": step.notify},
            )
            writes.pages.extend(
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
            )
            pages.extend(Page(row.incident_id, u, round_, number, step.notify) for u in users)
        else:
            writes.event(
                row.incident_id,
                "page_gap",
                f"Nobody to page for {step.notify} (gap in coverage) ({why})",
                {"notify": step.notify},
            )
        index += 1
    writes.moves.append(
        {
            "b_id": row.incident_id,
            "b_next": index,
            "b_due": due_at,
            "b_reason": "opened" if row.reason == "ack expired" else row.reason,
        }
    )
    return pages

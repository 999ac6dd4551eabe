"""What people do to incidents: acknowledge, resolve, escalate, note. Each is one write
transaction that changes the incident, appends its timeline event and queues the chat
update together, so the three never disagree."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.rules.model import EscalationPolicy
from bot.store.tables import alerts, escalations, incidents
from bot.store.timeline import record_event


class Outcome(enum.StrEnum):
    DONE = "done"
    NOT_FOUND = "not found"
    ALREADY = "already"  # nothing to do: already in that state


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    text: str


def _incident(conn: Connection, number: int) -> Any:
    query = sa.select(incidents).where(incidents.c.id == number)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def acknowledge(
    conn: Connection, number: int, user: str, now: datetime, policy: EscalationPolicy | None
) -> Result:
    """Stops escalation; with the policy's `ack_timeout`, escalation resumes from step 1 if
    the incident still fires when it runs out."""
    row = _incident(conn, number)
    if row is None:
        return Result(Outcome.NOT_FOUND, f"no incident INC-{number}")
    if row.state != "triggered":
        return Result(Outcome.ALREADY, f"INC-{number} is {row.state}")
    conn.execute(
        incidents.update()
        .where(incidents.c.id == number)
        .values(state="acknowledged", acknowledged_at=now, updated_at=now)
    )
    timeout = policy.ack_timeout if policy else None
    if timeout:
        conn.execute(
            escalations.update()
            .where(escalations.c.incident_id == number)
            .values(
                due_at=now + timeout, started_at=now + timeout, next_index=0, reason="ack expired"
            )
        )
    else:
        conn.execute(
            escalations.update().where(escalations.c.incident_id == number).values(due_at=None)
        )
    suffix = f"; pages again in {timeout} if still firing" if timeout else ""
    record_event(conn, number, now, "acknowledged", user, f"Acknowledged by {user}{suffix}")
    return Result(Outcome.DONE, f"INC-{number} acknowledged")


def resolve(conn: Connection, number: int, user: str, now: datetime) -> Result:
    """By hand. Alerts still firing at the source are closed with it: their repeats are
    ignored until they fire anew (a new startsAt), which opens or reopens an incident."""
    row = _incident(conn, number)
    if row is None:
        return Result(Outcome.NOT_FOUND, f"no incident INC-{number}")
    if row.state == "resolved":
        return Result(Outcome.ALREADY, f"INC-{number} is already resolved")
    closed = conn.execute(
        alerts.update()
        .where(alerts.c.incident_id == number, alerts.c.status == "firing")
        .values(status="resolved", ends_at=now, last_changed=now)
    ).rowcount
    conn.execute(
        incidents.update()
        .where(incidents.c.id == number)
        .values(state="resolved", resolved_at=now, updated_at=now, firing_count=0, muted_count=0)
    )
    conn.execute(
        escalations.update().where(escalations.c.incident_id == number).values(due_at=None)
    )
    extra = (
        f" ({closed} alert{'s' if closed != 1 else ''} still firing closed with it)"
        if closed
        else ""
    )
    record_event(
        conn,
        number,
        now,
        "resolved",
        user,
        f"Resolved by {user}{extra}",
        {"by": user, "closed_alerts": closed},
    )
    return Result(Outcome.DONE, f"INC-{number} resolved")


def escalate(
    conn: Connection, number: int, user: str, now: datetime, policy: EscalationPolicy | None
) -> Result:
    """Page the next step now instead of waiting for its time."""
    row = _incident(conn, number)
    if row is None:
        return Result(Outcome.NOT_FOUND, f"no incident INC-{number}")
    if row.state == "resolved":
        return Result(Outcome.ALREADY, f"INC-{number} is resolved")
    if policy is None:
        return Result(Outcome.ALREADY, f"INC-{number} has no escalation policy")
    state = conn.execute(sa.select(escalations).where(escalations.c.incident_id == number)).first()
    plan = policy.timeline()
    index = state.next_index if state is not None and state.next_index < len(plan) else 0
    started = now - plan[index][0]
    values = {
        "policy": row.escalation,
        "started_at": started,
        "next_index": index,
        "due_at": now,
        "reason": f"escalated by {user}",
    }
    if state is None:
        conn.execute(escalations.insert().values(incident_id=number, **values))
    else:
        conn.execute(
            escalations.update().where(escalations.c.incident_id == number).values(**values)
        )
    if row.state == "acknowledged":
        conn.execute(
            incidents.update()
            .where(incidents.c.id == number)
            .values(state="triggered", acknowledged_at=None, updated_at=now)
        )
    record_event(
        conn,
        number,
        now,
        "escalated",
        user,
        f"Escalated by {user} to step {plan[index][2]} ({plan[index][3].notify})",
    )
    return Result(Outcome.DONE, f"INC-{number} escalated")


def note(
    conn: Connection, number: int, user: str, text: str, now: datetime, source: str | None = None
) -> Result:
    if _incident(conn, number) is None:
        return Result(Outcome.NOT_FOUND, f"no incident INC-{number}")
    record_event(conn, number, now, "note", user, text.strip()[:4000], {"source": source})
    return Result(Outcome.DONE, "note added")


__all__ = ["Outcome", "Result", "acknowledge", "escalate", "note", "resolve"]

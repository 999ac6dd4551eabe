"""What chat commands and buttons write beyond the incident actions: incidents opened by
hand, handled-request keys (Slack retries), noise feedback, cover requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from bot.incidents.grouping import State
from bot.rules.router import RouteDecision
from bot.store.sql import Sql
from bot.store.tables import (
    CoverRequest,
    Incident,
    NotifyCursor,
    TimelineEvent,
    chat_requests,
    cover_requests,
    escalations,
    incident_feedback,
    incidents,
)
from bot.store.timeline import record_event

REQUEST_MEMORY = timedelta(hours=1)  # Slack retries within minutes; keep keys an hour


def claim_request(conn: Connection, key: str, now: datetime) -> tuple[bool, str | None]:
    """(True, None) for the first copy of a request; (False, result) for a repeat."""
    sql = Sql(conn)
    conn.execute(chat_requests.delete().where(chat_requests.c.created_at < now - REQUEST_MEMORY))
    inserted = conn.exec_driver_sql(
        'INSERT INTO chat_requests ("key", created_at) VALUES (?, ?) '
        'ON CONFLICT ("key") DO NOTHING'.replace("?", sql.ph),
        (key, sql.ts(now)),
    ).rowcount
    if inserted:
        return True, None
    found = conn.execute(sa.select(chat_requests.c.result).where(chat_requests.c.key == key))
    return False, found.scalar()


def finish_request(conn: Connection, key: str, result: str) -> None:
    conn.execute(chat_requests.update().where(chat_requests.c.key == key).values(result=result))


def release_request(conn: Connection, key: str) -> None:
    """The work failed: let Slack's retry try again."""
    conn.execute(chat_requests.delete().where(chat_requests.c.key == key))


@dataclass(frozen=True, slots=True)
class ManualIncident:
    title: str
    severity: str
    team: str | None
    route: RouteDecision | None
    channel: str | None
    user: str


def open_incident(
    conn: Connection, spec: ManualIncident, now: datetime, key: str | None = None
) -> tuple[int, bool]:
    """Opens an incident by hand; (number, True), or (number, False) when `key` was
    already handled (a retried `/incident new` opens nothing more)."""
    if key is not None:
        first, result = claim_request(conn, key, now)
        if not first:
            return int(result or 0), False
    sql = Sql(conn)
    (row,) = sql.rows(
        "UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value"
    )
    number = int(row[0])
    route = spec.route
    escalation = route.escalation if route and not route.notify_only else None
    conn.execute(
        incidents.insert().values(
            id=number,
            group_key=f"manual:{number}",
            route_id=route.route_id if route else "manual",
            title=spec.title,
            severity=spec.severity,
            team=spec.team,
            escalation=escalation,
            channel=spec.channel,
            notify_only=bool(route and route.notify_only),
            state=State.TRIGGERED.value,
            group_labels="{}",
            created_at=now,
            updated_at=now,
        )
    )
    if escalation:
        conn.execute(
            escalations.insert().values(
                incident_id=number,
                policy=escalation,
                started_at=now,
                next_index=0,
                due_at=now,
                reason="opened by hand",
            )
        )
    record_event(
        conn,
        number,
        now,
        "opened",
        spec.user,
        f"Incident opened by {spec.user}: {spec.title}",
        {"by": spec.user, "manual": True},
    )
    if key is not None:
        finish_request(conn, key, str(number))
    return number, True


def paged_users(session: Session, number: int) -> set[str]:
    query = select(TimelineEvent).where(
        TimelineEvent.incident_id == number, TimelineEvent.kind == "paged"
    )
    users: set[str] = set()
    for event in session.exec(query):
        users.update(str(u) for u in orjson.loads(event.data).get("users", []))
    return users


def open_incidents_in(session: Session, channel_id: str, channel_name: str) -> list[int]:
    """Open incidents whose message lives in this channel (by id), or that are routed to
    it (by id or name): the ones a command typed there can mean."""
    names = {channel_id, channel_name, f"#{channel_name}"} - {"", "#"}
    query = (
        select(Incident, NotifyCursor.message_ref)
        .join(NotifyCursor, col(NotifyCursor.incident_id) == col(Incident.id), isouter=True)
        .where(Incident.state != State.RESOLVED.value)
        .order_by(col(Incident.id))
    )
    found: list[int] = []
    for incident, ref in session.exec(query):
        if incident.channel in names or (ref and channel_id and channel_id in ref):
            found.append(incident.id)
    return found


def record_feedback(
    conn: Connection,
    number: int,
    user: str,
    slack_user: str | None,
    answer: str,
    now: datetime,
) -> bool:
    """One answer per person per incident; a second click changes it. False: no incident."""
    if conn.execute(sa.select(incidents.c.id).where(incidents.c.id == number)).first() is None:
        return False
    key = (incident_feedback.c.incident_id == number) & (incident_feedback.c.user == user)
    values = {"slack_user": slack_user, "answer": answer, "at": now}
    if conn.execute(incident_feedback.update().where(key).values(**values)).rowcount == 0:
        conn.execute(incident_feedback.insert().values(incident_id=number, user=user, **values))
    return True


def feedback(session: Session, number: int) -> dict[str, str]:
    rows = session.exec(
        sa.select(incident_feedback.c.user, incident_feedback.c.answer).where(  # type: ignore[call-overload]
            incident_feedback.c.incident_id == number
        )
    )
    return {row.user: row.answer for row in rows}


def add_cover_request(
    conn: Connection,
    schedule: str,
    requester: str,
    start: datetime,
    end: datetime,
    now: datetime,
) -> int:
    result = conn.execute(
        cover_requests.insert().values(
            schedule=schedule,
            requester=requester,
            starts_at=start,
            ends_at=end,
            created_at=now,
            messages="[]",
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def set_cover_messages(conn: Connection, cover_id: int, messages: Sequence[list[str]]) -> None:
    conn.execute(
        cover_requests.update()
        .where(cover_requests.c.id == cover_id)
        .values(messages=orjson.dumps(list(messages)).decode())
    )


def cover_request(session: Session, cover_id: int) -> CoverRequest | None:
    return session.get(CoverRequest, cover_id)


def accept_cover(conn: Connection, cover_id: int, user: str, now: datetime) -> bool:
    """The first to accept takes it: one conditional update decides, even across replicas."""
    taken = conn.execute(
        cover_requests.update()
        .where(cover_requests.c.id == cover_id, cover_requests.c.accepted_by.is_(None))
        .values(accepted_by=user, accepted_at=now)
    ).rowcount
    return bool(taken)


def release_cover(conn: Connection, cover_id: int, user: str) -> None:
    conn.execute(
        cover_requests.update()
        .where(cover_requests.c.id == cover_id, cover_requests.c.accepted_by == user)
        .values(accepted_by=None, accepted_at=None)
    )

"""Reads. SQLModel sessions for everything off the hot path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.incidents.grouping import State
from bot.store import paging, tables
from bot.store.tables import AlertRow, Incident, TimelineEvent


def incident(session: Session, number: int) -> Incident | None:
    return session.get(Incident, number)


def incidents(session: Session, *, open_only: bool = False, limit: int = 100) -> Sequence[Incident]:
    query = select(Incident).order_by(col(Incident.id).desc()).limit(limit)
    if open_only:
        query = query.where(Incident.state != State.RESOLVED.value)
    return session.exec(query).all()


def timeline(session: Session, number: int) -> Sequence[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == number)
    return session.exec(query.order_by(col(TimelineEvent.id))).all()


def incident_alerts(session: Session, number: int) -> Sequence[AlertRow]:
    query = select(AlertRow).where(AlertRow.incident_id == number)
    return session.exec(query.order_by(col(AlertRow.starts_at))).all()


def expired_alerts(session: Session, now: datetime, limit: int = 10_000) -> Sequence[AlertRow]:
    """Firing alerts whose sender set an end that has passed with no refresh."""
    query = (
        select(AlertRow)
        .join(Incident, col(Incident.id) == col(AlertRow.incident_id))
        .where(Incident.state != State.RESOLVED.value, AlertRow.status == "firing")
        .where(col(AlertRow.ends_at).is_not(None), col(AlertRow.ends_at) <= now)
        .limit(limit)
    )
    return session.exec(query).all()


def parse_incident_ref(text: str) -> int:
    """`INC-7`, `inc-7`, `#7` or `7` → 7."""
    cleaned = text.strip().upper().removeprefix("INC-").removeprefix("#")
    if not cleaned.isdigit():
        raise ValueError(f"not an incident: {text!r} (write INC-7 or 7)")
    return int(cleaned)


FIRING_PAGE = 2000
FIRING_KEYS = (tables.alerts.c.incident_id, tables.alerts.c.fingerprint)


def firing_page(
    session: Session,
    after: tuple[int, str] | None = None,
    *,
    full: bool = True,
    muted_only: bool = False,
) -> Sequence[sa.Row[Any]]:
    """One page of the firing alerts of open incidents, in (incident, fingerprint) order,
    with their incident's route id and group key. A storm's 100,000 alerts are read a
    page at a time, as plain rows: `full=False` reads only what inhibition needs;
    `muted_only`, only the alerts something mutes (the database skips the rest)."""
    a, i = tables.alerts, tables.incidents
    columns = [a.c.incident_id, a.c.fingerprint, a.c.labels]
    if full:
        columns += [
            a.c.annotations,
            a.c.starts_at,
            a.c.ends_at,
            a.c.generator_url,
            a.c.source,
            a.c.muted_by,
            i.c.route_id,
            i.c.group_key,
        ]
    query = (
        sa.select(*columns)
        .join(i, i.c.id == a.c.incident_id)
        .where(i.c.state != State.RESOLVED.value, a.c.status == "firing")
    )
    if muted_only:
        query = query.where(a.c.muted_by.is_not(None))
    return paging.page(session, query, FIRING_KEYS, after, FIRING_PAGE)

"""The audit trail of remediation: each step is a timeline event of its incident, written in
the transaction that changes the run, and a structured log line once that commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from bot.store.tables import TimelineEvent
from bot.store.timeline import record_event

log = logging.getLogger("bot.remediation.audit")
PREFIX = "remediation_"


@dataclass(frozen=True)
class AuditEvent:
    incident_id: int
    run_id: int | None
    kind: str  # requested, approved, denied, expired, refused, started, finished, ...
    actor: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def timeline_kind(self) -> str:
        return PREFIX + self.kind


def record(conn: Connection, event: AuditEvent, now: datetime) -> None:
    data = {"run": event.run_id, **event.data}
    record_event(conn, event.incident_id, now, event.timeline_kind, event.actor, event.text, data)


def emit(events: Sequence[AuditEvent]) -> None:
    """One JSON log line per event, after the commit: the log never shows what rolled back."""
    for event in events:
        line = {
            "event": event.timeline_kind,
            "incident": f"INC-{event.incident_id}",
            "run": event.run_id,
            "actor": event.actor,
            **event.data,
        }
        log.info("%s", orjson.dumps(line).decode())


def trail(session: Session, number: int | None = None) -> Sequence[TimelineEvent]:
    query = select(TimelineEvent).where(col(TimelineEvent.kind).startswith(PREFIX, autoescape=True))
    if number is not None:
        query = query.where(TimelineEvent.incident_id == number)
    return session.exec(query.order_by(col(TimelineEvent.id))).all()

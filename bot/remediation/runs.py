"""A remediation run as stored, and the two ways every step reads and writes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.remediation.audit import AuditEvent
from bot.remediation.policy import Spec
from bot.remediation.render import Rendered
from bot.store.tables import remediation_runs


@dataclass(frozen=True)
class RunView:
    id: int
    incident_id: int
    runbook: str
    action: str
    spec: Spec
    rendered: Rendered
    state: str
    trigger: str
    requested_by: str
    requested_at: datetime
    approved_by: tuple[str, ...]
    expires_at: datetime | None
    decided_by: str | None
    reason: str | None
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    output: str | None
    output_bytes: int
    digest: str | None
    chat_ref: str | None

    @property
    def label(self) -> str:
        return f"{self.action} (run #{self.id}, INC-{self.incident_id})"

    @classmethod
    def from_row(cls, row: Any) -> RunView:
        return cls(
            id=row.id,
            incident_id=row.incident_id,
            runbook=row.runbook,
            action=row.action,
            spec=Spec.from_json(row.spec),
            rendered=Rendered.from_json(row.rendered),
            state=row.state,
            trigger=row.trigger,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            approved_by=tuple(json.loads(row.approved_by)),
            expires_at=row.expires_at,
            decided_by=row.decided_by,
            reason=row.reason,
            started_at=row.started_at,
            finished_at=row.finished_at,
            exit_code=row.exit_code,
            output=row.output,
            output_bytes=row.output_bytes,
            digest=row.digest,
            chat_ref=row.chat_ref,
        )


@dataclass(frozen=True)
class Decision:
    ok: bool
    text: str
    run: RunView | None = None
    ready: bool = False  # approved in full: start it now
    audit: tuple[AuditEvent, ...] = ()


def load(conn: Connection, run_id: int) -> RunView | None:
    query = sa.select(remediation_runs).where(remediation_runs.c.id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else RunView.from_row(row)


def update(conn: Connection, run_id: int, **values: Any) -> RunView:
    conn.execute(remediation_runs.update().where(remediation_runs.c.id == run_id).values(**values))
    view = load(conn, run_id)
    assert view is not None
    return view

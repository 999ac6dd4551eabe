"""The one timeline writer: every flow that changes an incident records through it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from bot.store.sql import Sql, enqueue_updates
from bot.store.tables import timeline


def record_event(
    conn: Connection,
    number: int,
    now: datetime,
    kind: str,
    actor: str,
    text: str,
    data: dict[str, Any] | None = None,
) -> None:
    """A timeline event, with its chat update queued in the same transaction."""
    conn.execute(
        timeline.insert().values(
            incident_id=number,
            at=now,
            kind=kind,
            actor=actor,
            text=text,
            data=orjson.dumps(data or {}).decode(),
        )
    )
    sql = Sql(conn)
    enqueue_updates(sql, [number], sql.ts(now))

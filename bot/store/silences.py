"""Run-time silences in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from bot.store.tables import Silence, silences


def add(
    conn: Connection,
    *,
    matchers: list[str],
    starts_at: datetime,
    ends_at: datetime,
    owner: str,
    reason: str,
    created_by: str,
    now: datetime,
    alertmanager_id: str | None = None,
) -> int:
    result = conn.execute(
        silences.insert().values(
            matchers=orjson.dumps(matchers).decode(),
            starts_at=starts_at,
            ends_at=ends_at,
            owner=owner,
            reason=reason,
            created_by=created_by,
            created_at=now,
            alertmanager_id=alertmanager_id,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def active(session: Session, now: datetime) -> Sequence[Silence]:
    """Silences in force now or later (not expired, not ended)."""
    query = select(Silence).where(col(Silence.expired_at).is_(None), Silence.ends_at > now)
    return session.exec(query.order_by(col(Silence.id))).all()


def listed(session: Session, now: datetime, *, include_ended: bool = False) -> Sequence[Silence]:
    query = select(Silence).order_by(col(Silence.id))
    if not include_ended:
        query = query.where(col(Silence.expired_at).is_(None), Silence.ends_at > now)
    return session.exec(query).all()


def get(session: Session, silence_id: int) -> Silence | None:
    return session.get(Silence, silence_id)


def expire(conn: Connection, silence_id: int, now: datetime) -> bool:
    result = conn.execute(
        silences.update()
        .where(silences.c.id == silence_id, silences.c.expired_at.is_(None))
        .values(
            expired_at=now,
            ends_at=sa.func.least(silences.c.ends_at, now)
            if conn.dialect.name == "postgresql"
            else sa.func.min(silences.c.ends_at, now),
        )
    )
    return bool(result.rowcount)


def mark_matched(conn: Connection, silence_ids: list[int], now: datetime) -> None:
    if silence_ids:
        conn.execute(
            silences.update().where(silences.c.id.in_(silence_ids)).values(last_matched_at=now)
        )


def mark_reminded(conn: Connection, silence_id: int, field: str, now: datetime) -> None:
    assert field in ("reminded_expiry_at", "reminded_unused_at")
    conn.execute(silences.update().where(silences.c.id == silence_id).values({field: now}))


def matchers_of(silence: Silence) -> list[str]:
    return list(orjson.loads(silence.matchers))

"""Handoff digests and their acceptance, durably and once across replicas.

Every replica computes the latest handoff of each schedule and inserts it (a unique
index on schedule and instant keeps one row). Sending is leased: a replica claims the
row for `LEASE` in a transaction (`SKIP LOCKED` on PostgreSQL, the single writer on
SQLite), sends, then marks it sent; another replica sees the lease and waits, and a
replica that died mid-send leaves a lease that runs out, so the digest goes late, not
never. With the schedule's `handoff_ack`, a digest not accepted in time goes to the
outgoing person and the team the same way.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from bot.config import Config
from bot.escalation import handoff_facts as facts
from bot.escalation.targets import overrides_between
from bot.notify import Notifier
from bot.oncall.handoff import LOOKBACK, Digest, HandoffPoint, latest_handoff
from bot.oncall.lint import schedule_teams
from bot.oncall.rotation import DbOverride
from bot.rules.model import RulesConfig
from bot.store import Store
from bot.store.tables import handoffs

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)
RETRY = timedelta(minutes=1)
_OVERRIDE_WINDOW = timedelta(days=32)


@dataclass(frozen=True, slots=True)
class Message:
    handoff_id: int
    to: tuple[str, ...]
    text: str
    ack_within: timedelta | None = None


def points(
    rules: RulesConfig, now: datetime, stored: Mapping[str, Sequence[DbOverride]]
) -> dict[tuple[str, datetime], HandoffPoint]:
    out = {}
    for name, schedule in rules.schedules.items():
        point = latest_handoff(schedule, now, stored.get(name, ()))
        if point is not None:
            out[(name, point.at)] = point
    return out


def record(conn: Connection, found: Mapping[tuple[str, datetime], HandoffPoint]) -> None:
    if not found:
        return
    rows = [
        {"schedule": name, "at": at, "outgoing": p.outgoing, "incoming": p.incoming}
        for (name, at), p in found.items()
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(handoffs).on_conflict_do_nothing(index_elements=["schedule", "at"])
    conn.execute(insert, rows)


def _free(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(handoffs.c.claimed_until.is_(None), handoffs.c.claimed_until <= now)


def _locked(conn: Connection, query: sa.Select[Any]) -> list[Any]:
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def _lease(conn: Connection, ids: list[int], now: datetime) -> None:
    if ids:
        conn.execute(
            handoffs.update().where(handoffs.c.id.in_(ids)).values(claimed_until=now + LEASE)
        )


def lease_digests(
    conn: Connection,
    found: Mapping[tuple[str, datetime], HandoffPoint],
    now: datetime,
) -> list[tuple[int, str, datetime]]:
    """Record the current handoffs, then lease the unsent ones: (id, schedule, at)."""
    record(conn, found)
    if not found:
        return []
    rows = _locked(
        conn,
        sa.select(handoffs.c.id, handoffs.c.schedule, handoffs.c.at).where(
            handoffs.c.digest_sent_at.is_(None),
            handoffs.c.at >= now - LOOKBACK,
            handoffs.c.schedule.in_(sorted({name for name, _ in found})),
            _free(now),
        ),
    )
    leased = [(r.id, r.schedule, r.at) for r in rows if (r.schedule, r.at) in found]
    _lease(conn, [handoff_id for handoff_id, _, _ in leased], now)
    return leased


def word_digests(
    conn: Connection,
    config: Config,
    leased: list[tuple[int, str, datetime]],
    found: Mapping[tuple[str, datetime], HandoffPoint],
    now: datetime,
) -> list[Message]:
    """The leased digests' messages. Only reads: it runs beside the writer, not on it,
    where its queries over open incidents held up ingest for 100-200 ms."""
    rules = config.rules
    teams = schedule_teams(rules, config.router)
    out = []
    for handoff_id, name, at in leased:
        point = found[(name, at)]
        served = teams.get(name, set())
        schedule = rules.schedules[name]
        digest = Digest(
            schedule=name,
            timezone=schedule.timezone,
            point=point,
            open_incidents=facts.open_incidents(conn, rules, name, served),
            expiring_silences=facts.expiring_silences(conn, rules, now, point.shift_end),
            flapping=facts.flapping(conn, rules, name, served, point.previous_start),
            last_pages=facts.last_pages(conn, name, point),
            ack_within=schedule.handoff_ack,
        )
        out.append(Message(handoff_id, (point.incoming,), digest.text(), schedule.handoff_ack))
    return out


def claim_escalations(conn: Connection, config: Config, now: datetime) -> list[Message]:
    rows = _locked(
        conn,
        sa.select(handoffs).where(
            handoffs.c.accepted_at.is_(None),
            handoffs.c.escalated_at.is_(None),
            handoffs.c.ack_due_at <= now,
            _free(now),
        ),
    )
    _lease(conn, [r.id for r in rows], now)
    rules = config.rules
    teams = schedule_teams(rules, config.router)
    out = []
    for row in rows:
        schedule = rules.schedules.get(row.schedule)
        members = {m for t in teams.get(row.schedule, ()) for m in rules.teams[t].members}
        if not members and schedule is not None:
            members = {m for layer in schedule.layers for m in layer.members}
        to = ([row.outgoing] if row.outgoing else []) + sorted(members - {row.outgoing})
        to = [u for u in to if u != row.incoming]
        zone = ZoneInfo(schedule.timezone if schedule else "UTC")
        text = (
            f"{row.incoming} has not accepted the {row.schedule} handoff of "
            f"{row.at.astimezone(zone):%a %d %b %H:%M}. "
            + (f"{row.outgoing}: please stay on until they do. " if row.outgoing else "")
            + "Reach them, or add an override and take the shift."
        )
        out.append(Message(row.id, tuple(to), text))
    return out


def mark_sent(conn: Connection, message: Message, now: datetime) -> None:
    due = now + message.ack_within if message.ack_within else None
    conn.execute(
        handoffs.update()
        .where(handoffs.c.id == message.handoff_id)
        .values(digest_sent_at=now, claimed_until=None, ack_due_at=due)
    )


def mark_escalated(conn: Connection, message: Message, now: datetime) -> None:
    conn.execute(
        handoffs.update()
        .where(handoffs.c.id == message.handoff_id)
        .values(escalated_at=now, claimed_until=None)
    )


def retry_later(conn: Connection, message: Message, now: datetime) -> None:
    conn.execute(
        handoffs.update()
        .where(handoffs.c.id == message.handoff_id)
        .values(claimed_until=now + RETRY)
    )


async def _send(notifier: Notifier, message: Message) -> bool:
    try:
        for user in message.to:
            await notifier.notify_user(user, message.text)
    except Exception as exc:
        log.warning("handoff message %d not sent: %s", message.handoff_id, exc)
        return False
    return True


async def tick(store: Store, config: Config, notifier: Notifier) -> int:
    """Send due digests and handoff escalations; returns how many messages went out."""
    now = store.clock()
    stored = await store.read(
        lambda s: overrides_between(s, now - _OVERRIDE_WINDOW, now + timedelta(days=366))
    )
    found = await asyncio.to_thread(points, config.rules, now, stored)
    sent = 0
    leased = await store.write(partial(lease_digests, found=found, now=now))
    digests = (
        await store.read(
            lambda session: word_digests(session.connection(), config, leased, found, now)
        )
        if leased
        else []
    )
    escalations = await store.write(partial(claim_escalations, config=config, now=now))
    for message, done in [(m, mark_sent) for m in digests] + [
        (m, mark_escalated) for m in escalations
    ]:
        ok = await _send(notifier, message)
        finish = done if ok else retry_later
        await store.write(partial(finish, message=message, now=store.clock()))
        sent += len(message.to) if ok else 0
    return sent


class Accepted(enum.StrEnum):
    DONE = "done"
    ALREADY = "already"
    NOT_FOUND = "not found"
    NOT_YOURS = "not yours"


@dataclass(frozen=True, slots=True)
class AcceptResult:
    outcome: Accepted
    text: str


def accept(conn: Connection, schedule: str, user: str, now: datetime) -> AcceptResult:
    """The latest handoff of `schedule` is accepted by the person it went to."""
    row = conn.execute(
        sa.select(handoffs)
        .where(handoffs.c.schedule == schedule, handoffs.c.at <= now)
        .order_by(handoffs.c.at.desc())
        .limit(1)
    ).first()
    if row is None:
        return AcceptResult(Accepted.NOT_FOUND, f"no handoff of {schedule} to accept yet")
    if row.incoming != user:
        return AcceptResult(
            Accepted.NOT_YOURS, f"the latest {schedule} handoff went to {row.incoming}, not {user}"
        )
    if row.accepted_at is not None:
        return AcceptResult(Accepted.ALREADY, f"already accepted at {row.accepted_at:%H:%M}Z")
    conn.execute(handoffs.update().where(handoffs.c.id == row.id).values(accepted_at=now))
    late = " (after it was escalated)" if row.escalated_at is not None else ""
    return AcceptResult(Accepted.DONE, f"{user} accepted the {schedule} handoff{late}")


async def accept_handoff(
    store: Store, *, schedule: str, user: str, now: datetime | None = None
) -> AcceptResult:
    """For the CLI and the Slack button: stops the handoff's escalation."""
    return await store.write(
        partial(accept, schedule=schedule, user=user, now=now or store.clock())
    )

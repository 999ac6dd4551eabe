"""Who a step pages: a schedule's on-call person at that instant, a whole team, a user."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bot.escalation import engine
from bot.oncall.report import PageRecord
from bot.oncall.rotation import DbOverride, who_is_on_call
from bot.rules.model import RulesConfig, Step
from bot.store.tables import oncall_overrides, timeline


def stored_overrides(conn: Connection, now: datetime) -> dict[str, list[DbOverride]]:
    rows = conn.execute(sa.select(oncall_overrides).where(oncall_overrides.c.ends_at > now))
    out: dict[str, list[DbOverride]] = {}
    for row in rows:
        out.setdefault(row.schedule, []).append(DbOverride(row.user, row.starts_at, row.ends_at))
    return out


def resolver(
    rules: RulesConfig, overrides: Mapping[str, Sequence[DbOverride]]
) -> Callable[[Step, datetime], list[str]]:
    def resolve(step: Step, at: datetime) -> list[str]:
        kind, name = step.target
        if kind == "user":
            return [name]
        if kind == "team":
            team = rules.teams.get(name)
            return sorted(team.members) if team else []
        schedule = rules.schedules.get(name)
        if schedule is None:
            return []
        shift = who_is_on_call(schedule, at, overrides.get(name, ()))
        return [shift.user] if shift else []

    return resolve


def contacts(rules: RulesConfig) -> dict[str, str | None]:
    return {name: member.slack for name, member in rules.users().items()}


def tick(conn: Connection, rules: RulesConfig, now: datetime) -> engine.TickResult:
    """One escalation batch with these rules' policies and people. A module-level
    function of plain arguments, so that it can run in the ingest process."""
    resolve = resolver(rules, stored_overrides(conn, now))
    return engine.tick_batch(conn, rules.escalation_policies, resolve, contacts(rules), now)


def overrides_between(
    conn: Connection | Session, start: datetime, end: datetime
) -> dict[str, list[DbOverride]]:
    """Stored overrides overlapping [start, end), by schedule (for displays and reports)."""
    query = sa.select(oncall_overrides).where(
        oncall_overrides.c.ends_at > start, oncall_overrides.c.starts_at < end
    )
    out: dict[str, list[DbOverride]] = {}
    for row in conn.execute(query):
        out.setdefault(row.schedule, []).append(DbOverride(row.user, row.starts_at, row.ends_at))
    return out


def pages_between(conn: Connection | Session, start: datetime, end: datetime) -> list[PageRecord]:
    """Every page the timeline recorded in [start, end): whom, when, for which step."""
    query = (
        sa.select(timeline.c.at, timeline.c.data)
        .where(timeline.c.kind == "paged", timeline.c.at >= start, timeline.c.at < end)
        .order_by(timeline.c.at)
    )
    out = []
    for row in conn.execute(query):
        data = orjson.loads(row.data)
        out.append(PageRecord(row.at, tuple(data.get("users", ())), str(data.get("notify", ""))))
    return out

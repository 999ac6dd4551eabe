"""Who a step pages: a schedule's on-call person at that instant, a whole team, a user."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.oncall.rotation import DbOverride, who_is_on_call
from bot.rules.model import RulesConfig, Step
from bot.store.tables import oncall_overrides


def stored_overrides(conn: Connection, now: datetime) -> dict[str, list[DbOverride]]:
    rows = conn.execute(sa.select(oncall_overrides).where(oncall_overrides.c.ends_at > now))
    out: dict[str, list[DbOverride]] = {}
    for row in rows:
        out.setdefault(row.schedule, []).append(DbOverride(row.user, row.starts_at, row.ends_at))
    return out


def resolver(rules: RulesConfig, overrides: dict[str, Sequence[DbOverride]]):  # type: ignore[no-untyped-def]
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

"""What a handoff digest tells, read in the transaction that claims the handoff."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection

from bot.oncall.handoff import DigestIncident, DigestPage, DigestSilence, HandoffPoint
from bot.oncall.localtime import config_instant
from bot.rules.model import RulesConfig
from bot.store.tables import incidents, silences, timeline

_NO_END_HORIZON = timedelta(days=7)  # a shift with no handoff within a year: look a week
_LISTED = 20


def policies_paging(rules: RulesConfig, schedule: str) -> set[str]:
    return {
        name
        for name, policy in rules.escalation_policies.items()
        if any(step.target == ("schedule", schedule) for step in policy.steps)
    }


def _relevant(rules: RulesConfig, schedule: str, teams: set[str]) -> sa.ColumnElement[bool]:
    """Incidents this schedule answers for: its teams', or those its policies page for."""
    return sa.or_(
        incidents.c.team.in_(sorted(teams)),
        incidents.c.escalation.in_(sorted(policies_paging(rules, schedule))),
    )


def open_incidents(
    conn: Connection, rules: RulesConfig, schedule: str, teams: set[str]
) -> list[DigestIncident]:
    rows = conn.execute(
        sa.select(incidents)
        .where(incidents.c.state != "resolved", _relevant(rules, schedule, teams))
        .order_by(incidents.c.id)
        .limit(_LISTED)
    )
    return [DigestIncident(r.id, r.title, r.state, r.flap_count) for r in rows]


def flapping(
    conn: Connection, rules: RulesConfig, schedule: str, teams: set[str], since: datetime
) -> list[DigestIncident]:
    rows = conn.execute(
        sa.select(incidents)
        .where(
            incidents.c.flap_count > 0,
            incidents.c.updated_at >= since,
            _relevant(rules, schedule, teams),
        )
        .order_by(incidents.c.flap_count.desc(), incidents.c.id)
        .limit(_LISTED)
    )
    return [DigestIncident(r.id, r.title, r.state, r.flap_count) for r in rows]


def expiring_silences(
    conn: Connection, rules: RulesConfig, now: datetime, shift_end: datetime | None
) -> list[DigestSilence]:
    until = shift_end or now + _NO_END_HORIZON
    rows = conn.execute(
        sa.select(silences)
        .where(silences.c.expired_at.is_(None), silences.c.ends_at > now)
        .where(silences.c.ends_at <= until)
        .order_by(silences.c.ends_at)
    )
    found = [
        DigestSilence(
            f"silence #{r.id} ({', '.join(orjson.loads(r.matchers))}): {r.reason}", r.ends_at
        )
        for r in rows
    ]
    for i, static in enumerate(rules.silences):
        ends = config_instant(static.ends, ZoneInfo(static.timezone))
        if now < ends <= until:
            found.append(DigestSilence(f"rules silence #{i}: {static.reason}", ends))
    return sorted(found, key=lambda s: s.ends_at)[:_LISTED]


def last_pages(conn: Connection, schedule: str, point: HandoffPoint) -> list[DigestPage]:
    rows = conn.execute(
        sa.select(timeline)
        .where(
            timeline.c.kind == "paged",
            timeline.c.at >= point.previous_start,
            timeline.c.at < point.at,
        )
        .order_by(timeline.c.at)
    )
    out = []
    for row in rows:
        data = orjson.loads(row.data)
        if data.get("notify") == f"schedule:{schedule}":
            out.append(DigestPage(row.at, row.incident_id, tuple(data.get("users", ()))))
    return out[-_LISTED:]

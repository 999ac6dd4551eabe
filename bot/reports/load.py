"""Reads what a report needs: incidents opened in the period and their relevant events,
alert names and noise feedback. Runs in the store's reader thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session

from bot.config import Config
from bot.reports.figures import (
    EventRow,
    IncidentFacts,
    IncidentRow,
    Report,
    figures,
    fold,
    noisiest,
    person_tz,
)
from bot.store.paging import keyset
from bot.store.tables import alerts, incidents, timeline

FEEDBACK_TABLE = "incident_feedback"  # written by the chat's "actionable or noise?" buttons
_KINDS = ("acknowledged", "paged", "note", "resolved")


def _in_period(start: datetime, end: datetime, team: str | None) -> Any:
    where = sa.and_(incidents.c.created_at >= start, incidents.c.created_at < end)
    return sa.and_(where, incidents.c.team == team) if team else where


def _data(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _alertname(session: Session) -> Any:
    """The alert's name, taken out in SQL: a storm's 100,000 label sets never reach Python."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(alerts.c.labels, sa.JSON)["alertname"].as_string()
    return sa.func.json_extract(alerts.c.labels, "$.alertname")


def read_facts(
    session: Session, start: datetime, end: datetime, team: str | None
) -> tuple[dict[int, IncidentFacts], bool]:
    """Facts per incident, and whether noise feedback could be read."""
    period = _in_period(start, end, team)
    rows = [
        IncidentRow(r.id, r.team, r.severity, r.created_at, r.resolved_at, r.state)
        for r in keyset(session, sa.select(incidents).where(period), incidents.c.id)
    ]
    events = (
        EventRow(r.incident_id, r.at, r.kind, r.actor, _data(r.data))
        for r in keyset(
            session,
            sa.select(timeline)
            .join(incidents, incidents.c.id == timeline.c.incident_id)
            .where(period)
            .where(sa.or_(timeline.c.kind.in_(_KINDS), timeline.c.kind.startswith("remediation_"))),
            timeline.c.id,
        )
    )
    facts = fold(rows, events)
    alertname = _alertname(session)
    names = session.execute(
        sa.select(alerts.c.incident_id, alertname)
        .distinct()
        .join(incidents, incidents.c.id == alerts.c.incident_id)
        .where(period)
    )
    for incident_id, name in names:
        if incident_id in facts and name:
            facts[incident_id].alertnames.add(str(name))
    feedback = sa.inspect(session.connection()).has_table(FEEDBACK_TABLE)
    if feedback:
        votes = sa.table(FEEDBACK_TABLE, sa.column("incident_id"), sa.column("answer"))
        query = (
            sa.select(votes.c.incident_id, sa.func.count())
            .where(votes.c.answer == "noise")
            .group_by(votes.c.incident_id)
        )
        for incident_id, count in session.execute(query):
            if incident_id in facts:
                facts[incident_id].noise_votes = int(count)
    return facts, feedback


def build(
    session: Session,
    config: Config | None,
    *,
    start: datetime,
    end: datetime,
    team: str | None = None,
) -> Report:
    facts, feedback = read_facts(session, start, end, team)
    rules = config.rules if config else None
    tz_of = person_tz(rules)
    by_team: dict[str, list[IncidentFacts]] = {}
    for f in facts.values():
        by_team.setdefault(f.row.team or "none", []).append(f)

    def has_runbook(name: str) -> bool:
        return bool(config and config.runbooks.for_alert({"alertname": name}))

    notes = [
        "after hours: outside Mon-Fri 08:00-18:00 in the paged person's time zone "
        "(teams.*.members.*.tz; UTC for people not in the config)",
        "self-resolved: resolved by the alerts within 5 minutes of opening",
        "acted on: the incident has a note or a remediation step",
    ]
    if not feedback:
        notes.append(f"marked noise: not available (no {FEEDBACK_TABLE} table in this database)")
    return Report(
        start=start,
        end=end,
        team=team,
        total=figures(facts.values(), tz_of),
        by_team={t: figures(fs, tz_of) for t, fs in by_team.items()},
        noisiest=noisiest(facts.values(), has_runbook, feedback),
        notes=notes,
    )

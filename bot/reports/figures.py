"""Incident figures over a period: MTTA, MTTR, pages, after-hours pages, noisy alerts.

Pure: `compute` takes rows already read (see `load`) and the config, so every rule is
testable with plain objects. After-hours is judged in the paged person's own time zone."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

from bot.rules.model import RulesConfig

WORKDAY = (time(8, 0), time(18, 0))  # Monday to Friday, local time of the paged person
SELF_RESOLVED = timedelta(minutes=5)
NOISY_SHOWN = 10


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: int
    team: str | None
    severity: str
    created_at: datetime
    resolved_at: datetime | None
    state: str


@dataclass(frozen=True, slots=True)
class EventRow:
    incident_id: int
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]


@dataclass
class IncidentFacts:
    row: IncidentRow
    first_ack: datetime | None = None
    pages: list[tuple[datetime, str]] = field(default_factory=list)
    acted: bool = False  # a note or a remediation step
    resolved_by_alerts: bool = False
    noise_votes: int = 0
    alertnames: set[str] = field(default_factory=set)

    @property
    def tta(self) -> float | None:
        return _secs(self.first_ack - self.row.created_at) if self.first_ack else None

    @property
    def ttr(self) -> float | None:
        if self.row.state != "resolved" or self.row.resolved_at is None:
            return None
        return _secs(self.row.resolved_at - self.row.created_at)


@dataclass
class NoisyAlert:
    alertname: str
    incidents: int = 0
    pages: int = 0
    acked_only: int = 0  # acknowledged, but no note and no remediation
    acted_on: int = 0
    marked_noise: int | None = 0  # None: no feedback table to read
    self_resolved: int = 0  # resolved by the alerts within SELF_RESOLVED
    has_runbook: bool = False


@dataclass
class Figures:
    incidents: int = 0
    acknowledged: int = 0
    resolved: int = 0
    mtta_seconds: float | None = None
    mttr_seconds: float | None = None
    pages: int = 0
    pages_per_incident: float | None = None
    after_hours_pages: int = 0
    tta_seconds: list[float] = field(default_factory=list)
    ttr_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "acknowledged": self.acknowledged,
            "resolved": self.resolved,
            "mtta_seconds": _round(self.mtta_seconds),
            "mttr_seconds": _round(self.mttr_seconds),
            "pages": self.pages,
            "pages_per_incident": _round(self.pages_per_incident, 2),
            "after_hours_pages": self.after_hours_pages,
        }


@dataclass
class Report:
    start: datetime
    end: datetime
    team: str | None
    total: Figures
    by_team: dict[str, Figures]
    noisiest: list[NoisyAlert]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "team": self.team,
            **self.total.as_dict(),
            "by_team": {t: f.as_dict() for t, f in sorted(self.by_team.items())},
            "noisiest_alerts": [vars(n).copy() for n in self.noisiest],
            "notes": self.notes,
        }


def _secs(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds())


def _round(value: float | None, digits: int = 0) -> float | None:
    return None if value is None else round(value, digits)


def after_hours(at: datetime, tz: str, workday: tuple[time, time] = WORKDAY) -> bool:
    """Outside Mon-Fri `workday` hours in the person's own time zone."""
    local = at.astimezone(ZoneInfo(tz))
    return local.weekday() >= 5 or not (workday[0] <= local.time() < workday[1])


def person_tz(rules: RulesConfig | None) -> Callable[[str], str]:
    zones: dict[str, str] = {}
    for name, member in (rules.users() if rules else {}).items():
        zones[name] = member.tz
        if member.slack:
            zones[member.slack] = member.tz
    return lambda user: zones.get(user, "UTC")


def fold(incidents: Iterable[IncidentRow], events: Iterable[EventRow]) -> dict[int, IncidentFacts]:
    facts = {row.id: IncidentFacts(row) for row in incidents}
    for e in events:
        f = facts.get(e.incident_id)
        if f is None:
            continue
        if e.kind == "acknowledged" and (f.first_ack is None or e.at < f.first_ack):
            f.first_ack = e.at
        elif e.kind == "paged":
            users = e.data.get("users")
            for user in users if isinstance(users, list) else []:
                f.pages.append((e.at, str(user)))
        elif e.kind == "note" or e.kind.startswith("remediation_"):
            f.acted = True
        elif e.kind == "resolved":
            f.resolved_by_alerts = e.actor == "alerts"
    return facts


def figures(facts: Iterable[IncidentFacts], tz_of: Callable[[str], str]) -> Figures:
    out = Figures()
    for f in facts:
        out.incidents += 1
        if f.tta is not None:
            out.acknowledged += 1
            out.tta_seconds.append(f.tta)
        if f.ttr is not None:
            out.resolved += 1
            out.ttr_seconds.append(f.ttr)
        out.pages += len(f.pages)
        out.after_hours_pages += sum(1 for at, user in f.pages if after_hours(at, tz_of(user)))
    out.mtta_seconds = mean(out.tta_seconds) if out.tta_seconds else None
    out.mttr_seconds = mean(out.ttr_seconds) if out.ttr_seconds else None
    out.pages_per_incident = out.pages / out.incidents if out.incidents else None
    return out


def noisiest(
    facts: Iterable[IncidentFacts],
    has_runbook: Callable[[str], bool],
    feedback: bool,
    limit: int = NOISY_SHOWN,
) -> list[NoisyAlert]:
    by_name: dict[str, NoisyAlert] = {}
    for f in facts:
        quick = f.ttr is not None and f.ttr <= SELF_RESOLVED.total_seconds()
        for name in f.alertnames:
            n = by_name.get(name)
            if n is None:
                n = by_name[name] = NoisyAlert(name, has_runbook=has_runbook(name))
                n.marked_noise = 0 if feedback else None
            n.incidents += 1
            n.pages += len(f.pages)
            n.acted_on += f.acted
            n.acked_only += f.first_ack is not None and not f.acted
            n.self_resolved += f.resolved_by_alerts and quick
            if n.marked_noise is not None:
                n.marked_noise += f.noise_votes > 0
    ranked = sorted(
        by_name.values(),
        key=lambda n: (-n.pages, -(n.incidents - n.acted_on), -n.incidents, n.alertname),
    )
    return ranked[:limit]

"""Dedup and grouping verdicts, as a pure function of the batch and the stored state.

The store loads the state an ingest batch can touch, calls `plan`, and writes the
result in the same transaction; nothing here does I/O, so every rule is testable
with plain objects and an injected `now`.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from bot.ingest.alert import Alert, AlertStatus
from bot.rules.mute import Mute
from bot.rules.router import RouteDecision


class State(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Verdict(enum.StrEnum):
    """Why an alert did or did not change anything, for metrics and tests."""

    NEW = "new"  # first time in this incident
    REFIRED = "refired"  # was resolved, fires again
    RESOLVED = "resolved"
    UPDATED = "updated"  # same firing, new annotations or end time
    DUPLICATE = "duplicate"  # nothing new: a repeat or a redelivery
    STALE = "stale"  # older than what is stored: a late redelivery
    UNKNOWN_RESOLVED = "unknown_resolved"  # resolved, but never seen firing


def content_hash(alert: Alert) -> str:
    blob = (
        orjson.dumps(alert.annotations, option=orjson.OPT_SORT_KEYS) + alert.generator_url.encode()
    )
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


@dataclass(slots=True, eq=False)
class IncidentState:
    id: int | None  # None until the store allocates the next INC number
    group_key: str
    route_id: str
    state: State
    firing_count: int
    alert_count: int
    flap_count: int
    resolved_at: datetime | None
    muted_count: int = 0
    escalation: str | None = None
    notify_only: bool = False
    route: RouteDecision | None = None  # set for new incidents only
    title: str = ""
    severity: str = ""
    group_labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    dirty: bool = False

    @property
    def is_open(self) -> bool:
        return self.state is not State.RESOLVED


@dataclass(slots=True, eq=False)
class AlertState:
    incident: IncidentState
    fingerprint: str
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None
    content_hash: str
    muted_by: str | None = None
    alert: Alert | None = None  # the incoming alert whose fields are to be written
    is_new: bool = False
    dirty: bool = False


@dataclass(slots=True)
class Event:
    incident: IncidentState
    kind: str
    text: str
    data: dict[str, Any]


@dataclass(slots=True)
class _Changes:
    firing: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    muted: dict[str, list[Alert]] = field(default_factory=dict)  # mute text → alerts
    unmuted: list[Alert] = field(default_factory=list)
    opened: bool = False
    reopened_after: timedelta | None = None


@dataclass(slots=True)
class Plan:
    incidents: list[IncidentState]
    alerts: list[AlertState]
    events: list[Event]
    verdicts: list[Verdict]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for v in self.verdicts if v is verdict)

    @property
    def opened(self) -> int:
        return sum(1 for e in self.events if e.kind == "opened")


@dataclass(slots=True)
class Item:
    alert: Alert
    group_key: str
    route: RouteDecision
    mute: Mute | None = None


def title_of(alert: Alert, group_labels: dict[str, str]) -> str:
    summary = alert.annotations.get("summary") or alert.annotations.get("title")
    if summary:
        return summary
    rest = ", ".join(f"{k}={v}" for k, v in sorted(group_labels.items()) if k != "alertname" and v)
    return f"{alert.name or 'Alert'}" + (f" ({rest})" if rest else "")


class Planner:
    """Folds one batch of alerts into the incidents they belong to.

    `current` holds, per group key, the latest incident (open, or resolved and so
    a candidate for a flap reopen); `firing` the firing rows of open incidents by
    fingerprint and route — an alert that `continue`s through two routes is in two
    incidents; `rows` every loaded row by (incident, fingerprint).
    """

    def __init__(
        self,
        current: dict[str, IncidentState],
        rows: Iterable[AlertState],
        now: datetime,
    ) -> None:
        self.current = current
        self.now = now
        self.rows: dict[tuple[int, str], AlertState] = {}
        self.firing: dict[str, dict[str, AlertState]] = {}
        for row in rows:
            self._index(row)
        self.changes: dict[int, _Changes] = {}
        self.touched: dict[int, IncidentState] = {}
        self.verdicts: list[Verdict] = []

    def _index(self, row: AlertState) -> None:
        self.rows[(id(row.incident), row.fingerprint)] = row
        if row.incident.is_open and row.status is AlertStatus.FIRING:
            self.firing.setdefault(row.fingerprint, {})[row.incident.route_id] = row

    def _touch(self, incident: IncidentState) -> _Changes:
        incident.dirty = True
        self.touched[id(incident)] = incident
        return self.changes.setdefault(id(incident), _Changes())

    def add(self, item: Item) -> Verdict:
        verdict = (
            self._fire(item) if item.alert.status is AlertStatus.FIRING else self._resolve(item)
        )
        self.verdicts.append(verdict)
        return verdict

    def _fire(self, item: Item) -> Verdict:
        alert = item.alert
        row = self.firing.get(alert.fingerprint, {}).get(item.route.route_id)
        if row is not None:
            return self._refresh(row, item)
        incident = self.current.get(item.group_key)
        if incident is not None:
            known = self.rows.get((id(incident), alert.fingerprint))
            if known is not None and alert.starts_at <= known.starts_at:
                return Verdict.STALE
            if not incident.is_open:
                flap = item.route.flap_window
                assert incident.resolved_at is not None
                if self.now - incident.resolved_at <= flap:
                    self._reopen(incident)
                else:
                    incident = None
        if incident is None:
            incident = self._open(item)
        known = self.rows.get((id(incident), alert.fingerprint))
        changes = self._touch(incident)
        changes.firing.append(alert)
        incident.firing_count += 1
        if known is None:
            incident.alert_count += 1
            known = AlertState(
                incident,
                alert.fingerprint,
                alert.status,
                alert.starts_at,
                alert.ends_at,
                content_hash(alert),
                alert=alert,
                is_new=True,
                dirty=True,
            )
            self._set_mute(known, item.mute, changes)
            self._index(known)
            return Verdict.NEW
        known.status, known.starts_at, known.ends_at = alert.status, alert.starts_at, alert.ends_at
        known.content_hash, known.alert, known.dirty = content_hash(alert), alert, True
        known.muted_by = None  # a resolved row no longer counts as muted
        self._set_mute(known, item.mute, changes)
        self._index(known)
        return Verdict.REFIRED

    def _refresh(self, row: AlertState, item: Item) -> Verdict:
        alert = item.alert
        digest = content_hash(alert)
        mute_ref = item.mute.ref if item.mute else None
        if digest == row.content_hash and alert.ends_at == row.ends_at and mute_ref == row.muted_by:
            return Verdict.DUPLICATE
        row.content_hash, row.ends_at, row.alert, row.dirty = digest, alert.ends_at, alert, True
        if mute_ref != row.muted_by:
            self._set_mute(row, item.mute, self._touch(row.incident))
        return Verdict.UPDATED

    def _set_mute(self, row: AlertState, mute: Mute | None, changes: _Changes) -> None:
        """Move a firing row to `mute`, keeping the incident's muted count right."""
        ref = mute.ref if mute else None
        if ref == row.muted_by:
            return
        assert row.alert is not None
        if row.muted_by is not None:
            row.incident.muted_count -= 1
            if mute is None:
                changes.unmuted.append(row.alert)
        if mute is not None:
            row.incident.muted_count += 1
            changes.muted.setdefault(mute.text, []).append(row.alert)
        row.muted_by = ref

    def _resolve(self, item: Item) -> Verdict:
        """Resolve the alert wherever it fires, whatever route it takes today."""
        alert = item.alert
        rows = list(self.firing.get(alert.fingerprint, {}).values())
        if not rows:
            return Verdict.UNKNOWN_RESOLVED
        fresh = [r for r in rows if alert.starts_at >= r.starts_at]
        if not fresh:
            return Verdict.STALE
        for row in fresh:
            del self.firing[row.fingerprint][row.incident.route_id]
            row.status, row.ends_at = AlertStatus.RESOLVED, alert.ends_at or self.now
            row.alert, row.dirty = alert, True
            row.incident.firing_count -= 1
            if row.muted_by is not None:
                row.incident.muted_count -= 1
            self._touch(row.incident).resolved.append(alert)
        return Verdict.RESOLVED

    def _open(self, item: Item) -> IncidentState:
        labels = item.route.group_labels(item.alert.labels)
        incident = IncidentState(
            id=None,
            group_key=item.group_key,
            route_id=item.route.route_id,
            escalation=item.route.escalation,
            notify_only=item.route.notify_only,
            state=State.TRIGGERED,
            firing_count=0,
            alert_count=0,
            flap_count=0,
            resolved_at=None,
            route=item.route,
            title=title_of(item.alert, labels),
            severity=item.route.severity(item.alert.labels),
            group_labels=labels,
            created_at=self.now,
        )
        self.current[item.group_key] = incident
        self._touch(incident).opened = True
        return incident

    def _reopen(self, incident: IncidentState) -> None:
        assert incident.resolved_at is not None
        changes = self._touch(incident)
        changes.reopened_after = self.now - incident.resolved_at
        incident.state = State.TRIGGERED
        incident.flap_count += 1
        incident.resolved_at = None
        # Rows of a resolved incident are all resolved; index them for stale checks only.

    def finish(self) -> Plan:
        events: list[Event] = []
        for key, incident in self.touched.items():
            changes = self.changes[key]
            if changes.opened:
                events.append(
                    Event(
                        incident,
                        "opened",
                        f"Incident opened: {incident.title}",
                        {"group_key": incident.group_key},
                    )
                )
            if changes.reopened_after is not None:
                seconds = int(changes.reopened_after.total_seconds())
                events.append(
                    Event(
                        incident,
                        "reopened",
                        f"Reopened: fired again {seconds}s after resolving (flapping, "
                        f"{incident.flap_count} time{'s' if incident.flap_count > 1 else ''})",
                        {"after_seconds": seconds, "flap_count": incident.flap_count},
                    )
                )
            if changes.firing:
                events.append(_alert_event(incident, "alerts_firing", "firing", changes.firing))
            for text, muted in changes.muted.items():
                events.append(_alert_event(incident, "alerts_muted", text, muted))
            if changes.unmuted:
                events.append(
                    _alert_event(incident, "alerts_unmuted", "no longer muted", changes.unmuted)
                )
            if changes.resolved:
                events.append(
                    _alert_event(incident, "alerts_resolved", "resolved", changes.resolved)
                )
            if incident.is_open and incident.firing_count == 0:
                incident.state = State.RESOLVED
                incident.resolved_at = self.now
                events.append(
                    Event(incident, "resolved", "Resolved: all alerts resolved", {"by": "alerts"})
                )
        alerts = [row for row in self.rows.values() if row.dirty]
        return Plan(list(self.touched.values()), alerts, events, self.verdicts)


_LISTED = 20


def _alert_event(incident: IncidentState, kind: str, verb: str, alerts: list[Alert]) -> Event:
    names = sorted({a.name or a.fingerprint for a in alerts})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    count = len(alerts)
    text = f"{count} alert{'s' if count > 1 else ''} {verb}: {shown}"
    data = {
        "count": count,
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "alertname": a.name,
                "generator_url": a.generator_url,
                "starts_at": a.starts_at.isoformat(),  # time to detect, in post-mortems
            }
            for a in alerts[:_LISTED]
        ],
    }
    return Event(incident, kind, text, data)


def plan(
    items: Iterable[Item],
    current: dict[str, IncidentState],
    rows: Iterable[AlertState],
    now: datetime,
) -> Plan:
    planner = Planner(current, rows, now)
    for item in items:
        planner.add(item)
    return planner.finish()

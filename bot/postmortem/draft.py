"""The facts of a post-mortem, gathered from the incident, its alerts and its timeline.

One streaming pass over the timeline fills bounded summaries (responders, key times,
remediation); the timeline itself stays lazy (`Timeline`) for the template to walk.
Everything handed to templates is plain data: no config objects, no sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from sqlmodel import Session

from bot.postmortem.alerts import AlertGroup, alert_groups
from bot.postmortem.durations import Span, human, times
from bot.postmortem.facts import Facts, scan
from bot.postmortem.timeline import Link, Linker, Timeline
from bot.rules import Router, RulesConfig
from bot.runbooks.loader import Runbooks
from bot.store import queries
from bot.store.tables import Incident

SLOW_ACK = timedelta(minutes=15)


@dataclass(frozen=True)
class DraftContext:
    """What the draft needs from outside the database; all optional but the clock."""

    now: datetime
    base_url: str = "http://127.0.0.1:8080"
    rules: RulesConfig | None = None
    runbooks: Runbooks | None = None
    router: Router | None = None
    config_dir: Path | None = None

    def names(self) -> dict[str, str]:
        """Slack ids and names → the member name people know."""
        out: dict[str, str] = {}
        for name, member in (self.rules.users() if self.rules else {}).items():
            out[name] = name
            if member.slack:
                out[member.slack] = name
        return out


@dataclass(frozen=True, slots=True)
class Measure:
    """A key duration and the instant it ends, with how it was decided."""

    name: str
    span: Span | None
    at: datetime | None
    how: str

    @property
    def text(self) -> str:
        return human(self.span.delta) if self.span else "n/a"


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str
    why: str


@dataclass
class Draft:
    number: int
    ref: str
    title: str
    severity: str
    state: str
    team: str | None
    channel: str | None
    url: str
    created_at: datetime
    resolved_at: datetime | None
    impact_start: datetime
    impact_end: datetime | None
    impact: str
    group_labels: dict[str, str]
    flaps: int
    measures: list[Measure]
    facts: Facts
    alerts: list[AlertGroup]
    alert_total: int
    alert_groups_hidden: int
    runbook: Link | None
    timeline: Timeline
    summary: str
    action_items: list[Suggestion] = field(default_factory=list)
    went_well: list[str] = field(default_factory=list)
    went_badly: list[str] = field(default_factory=list)
    generated_at: datetime | None = None

    def measure(self, name: str) -> Measure:
        return next(m for m in self.measures if m.name == name)


def gather(session: Session, number: int, ctx: DraftContext) -> Draft:
    """The draft of INC-`number`; `LookupError` when there is none."""
    incident = queries.incident(session, number)
    if incident is None:
        raise LookupError(f"no incident INC-{number}")
    names = ctx.names()
    linker = Linker(ctx.base_url, number)
    facts = scan(session, number, names, linker)
    groups, total, first_labels = alert_groups(session, number)
    shown = groups[:50]
    first_start = facts.first_alert_start or min(
        (g.first_start for g in groups if g.first_start), default=None
    )
    impact_start = min(first_start, incident.created_at) if first_start else incident.created_at
    end = incident.resolved_at if incident.state == "resolved" else None
    measures = _measures(incident, facts, first_start, ctx.now)
    draft = Draft(
        number=number,
        ref=f"INC-{number}",
        title=incident.title,
        severity=incident.severity,
        state=incident.state,
        team=incident.team,
        channel=incident.channel,
        url=f"{ctx.base_url}/incidents/{number}",
        created_at=incident.created_at,
        resolved_at=end,
        impact_start=impact_start,
        impact_end=end,
        impact=human((end or ctx.now) - impact_start) + ("" if end else " so far (ongoing)"),
        group_labels=_labels(incident.group_labels),
        flaps=incident.flap_count,
        measures=measures,
        facts=facts,
        alerts=shown,
        alert_total=total,
        alert_groups_hidden=len(groups) - len(shown),
        runbook=_runbook(ctx, incident, first_labels),
        timeline=Timeline(
            session, number, linker=linker, names=names, final_resolution=facts.final_resolution
        ),
        summary="",
        generated_at=ctx.now,
    )
    draft.summary = _summary(draft)
    draft.action_items = _suggestions(draft)
    draft.went_well, draft.went_badly = _observations(draft)
    return draft


def _labels(text: str) -> dict[str, str]:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _measures(
    incident: Incident, facts: Facts, first_start: datetime | None, now: datetime
) -> list[Measure]:
    opened = incident.created_at
    detect = (
        Measure(
            "detect",
            Span(first_start, opened),
            opened,
            "from the first alert's start (startsAt) to the incident opening",
        )
        if first_start is not None and first_start < opened
        else Measure("detect", None, None, "the first alert started when the incident opened")
    )
    ack_at = facts.first_ack.at if facts.first_ack else None
    ack = Measure(
        "acknowledge",
        Span(opened, ack_at) if ack_at else None,
        ack_at,
        f"first acknowledgement, by {facts.first_ack.actor}" if facts.first_ack else "never",
    )
    mitigation = facts.mitigation()
    mitigate = Measure(
        "mitigate",
        Span(opened, mitigation[0]) if mitigation else None,
        mitigation[0] if mitigation else None,
        mitigation[1] if mitigation else "no successful remediation run and no alert resolved",
    )
    resolved = incident.resolved_at if incident.state == "resolved" else None
    resolve = Measure(
        "resolve",
        Span(opened, resolved) if resolved else None,
        resolved,
        (f"resolved by {facts.final_resolver}" if resolved else f"still {incident.state}"),
    )
    return [detect, ack, mitigate, resolve]


def _runbook(ctx: DraftContext, incident: Incident, labels: dict[str, str] | None) -> Link | None:
    if ctx.runbooks is None or labels is None:
        return None
    explicit = None
    if ctx.router is not None:
        for decision in ctx.router.route(labels):
            if decision.route_id == incident.route_id:
                explicit = decision.runbook
    book = ctx.runbooks.for_alert(labels, explicit)
    return (
        Link(book.meta.title or book.name, f"{ctx.base_url}/runbooks/{book.name}") if book else None
    )


def _summary(d: Draft) -> str:
    f = d.facts
    parts = [
        f"{d.ref} ({d.severity}{', team ' + d.team if d.team else ''}) opened at "
        f"{d.created_at:%Y-%m-%d %H:%M:%S} UTC with {d.alert_total} "
        f"alert{'s' if d.alert_total != 1 else ''}"
        + (f" ({', '.join(g.name for g in d.alerts[:3])})" if d.alerts else "")
        + "."
    ]
    if d.flaps:
        parts.append(f"It flapped {times(d.flaps)}.")
    if f.pages:
        parts.append(
            f"Pagerbot sent {f.pages} page{'s' if f.pages > 1 else ''} "
            f"to {_and(f.paged)}"
            + (f", escalating {times(f.escalations)}" if f.escalations else "")
            + "."
        )
    for m in d.measures[1:]:
        if m.span:
            parts.append(f"Time to {m.name}: {m.text} ({m.how}).")
    if d.state != "resolved":
        parts.append(f"The incident is still {d.state}.")
    return " ".join(parts)


def _suggestions(d: Draft) -> list[Suggestion]:
    out: list[Suggestion] = []
    if d.runbook is None:
        names = ", ".join(g.name for g in d.alerts[:3]) or "these alerts"
        out.append(Suggestion(f"Write a runbook for {names}", "no runbook matched the alerts"))
    if d.flaps:
        out.append(
            Suggestion(
                "Review the alert's threshold and for-duration, or the route's flap window",
                f"the incident flapped {times(d.flaps)}",
            )
        )
    ack = d.measure("acknowledge").span
    if ack is not None and ack.delta > SLOW_ACK:
        out.append(
            Suggestion(
                "Review the escalation policy and how pages reach people",
                f"time to acknowledge was {human(ack.delta)}",
            )
        )
    if d.facts.gaps:
        out.append(
            Suggestion(
                "Close the gap in on-call coverage", f"{d.facts.gaps} step(s) had nobody to page"
            )
        )
    for r in d.facts.remediation:
        if r.outcome == "failed":
            out.append(
                Suggestion(f"Fix remediation action {r.action}", f"it failed at {r.at:%H:%M:%S}")
            )
    return out


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _observations(d: Draft) -> tuple[list[str], list[str]]:
    """What the record alone shows; people add the rest."""
    well: list[str] = []
    badly: list[str] = []
    ack = d.measure("acknowledge").span
    if ack is not None:
        (well if ack.delta <= SLOW_ACK else badly).append(
            f"Acknowledged {human(ack.delta)} after opening"
        )
    elif d.facts.pages:
        badly.append("Nobody acknowledged the pages")
    for r in d.facts.remediation:
        if r.outcome == "succeeded":
            well.append(f"Remediation action {r.action} succeeded")
        elif r.outcome == "failed":
            badly.append(f"Remediation action {r.action} failed")
    if d.runbook is not None:
        well.append(f"A runbook was at hand: {d.runbook.label}")
    if d.flaps:
        badly.append(f"The alerts flapped {times(d.flaps)} (resolved, then fired again)")
    if d.facts.gaps:
        badly.append(f"{d.facts.gaps} escalation step(s) found nobody on call")
    return well, badly

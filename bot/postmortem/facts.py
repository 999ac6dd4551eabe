"""One pass over the timeline: who did what, key instants, remediation and notes.

Every collection here is capped, so a 100,000-event timeline costs no more memory than
a 100-event one."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bot.postmortem.timeline import EventRow, Link, Linker, actor_label, iter_events

MAX_NOTES = 30
MAX_REMEDIATION = 50
SYSTEM_ACTORS = frozenset(
    {"alerts", "escalation", "pagerbot", "bot", "system", "remediation", "scheduler", "slack"}
)
_SUCCESS = frozenset({"succeeded", "success", "ok", "done", "completed", "passed"})
_FAILURE = frozenset({"failed", "failure", "error", "timeout", "timed_out", "rejected", "denied"})

ROLE_OF_KIND = {
    "acknowledged": "acknowledged",
    "escalated": "escalated by hand",
    "note": "wrote notes",
    "resolved": "resolved",
}


@dataclass(frozen=True, slots=True)
class Moment:
    at: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class Note:
    at: datetime
    actor: str
    text: str
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class Remediation:
    at: datetime
    kind: str
    action: str
    actor: str
    outcome: str | None  # succeeded | failed | None (a request, an approval)
    text: str
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class Role:
    role: str
    people: tuple[str, ...]


@dataclass
class Facts:
    events: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    roles: dict[str, list[str]] = field(default_factory=dict)
    paged: list[str] = field(default_factory=list)
    pages: int = 0
    escalations: int = 0
    gaps: int = 0
    first_ack: Moment | None = None
    notes: list[Note] = field(default_factory=list)
    notes_hidden: int = 0
    remediation: list[Remediation] = field(default_factory=list)
    remediation_hidden: int = 0
    first_fix: Remediation | None = None
    first_resolved_after_flap: datetime | None = None
    final_resolution: int | None = None
    final_resolution_at: datetime | None = None
    final_resolver: str = ""
    first_alert_start: datetime | None = None  # startsAt of the first alerts to fire

    @property
    def responders(self) -> list[Role]:
        return [Role(role, tuple(people)) for role, people in self.roles.items() if people]

    def mitigation(self) -> tuple[datetime, str] | None:
        """The first successful remediation run, else the first alert resolved after the
        last reopen (an earlier one was undone by flapping), else the resolution."""
        if self.first_fix is not None:
            return self.first_fix.at, f"first successful remediation run: {self.first_fix.action}"
        if self.first_resolved_after_flap is not None:
            return self.first_resolved_after_flap, "first alert resolved (after the last reopen)"
        if self.final_resolution_at is not None:
            return self.final_resolution_at, "nothing earlier recorded: taken as the resolution"
        return None

    def _role(self, role: str, who: str) -> None:
        people = self.roles.setdefault(role, [])
        if who not in people:
            people.append(who)


def outcome(event: EventRow) -> str | None:
    """How a remediation event ended: its status first (an HTTP action's exit_code is the
    HTTP status), then its exit code, then its kind."""
    data = event.data
    for key in ("status", "outcome", "result"):
        value = str(data.get(key) or "").lower()
        if value in _SUCCESS:
            return "succeeded"
        if value in _FAILURE:
            return "failed"
    code = data.get("exit_code", data.get("returncode"))
    if isinstance(code, int) and not isinstance(code, bool):
        return "succeeded" if code == 0 else "failed"
    last = event.kind.rsplit("_", 1)[-1].lower()
    if last in _SUCCESS:
        return "succeeded"
    if last in _FAILURE:
        return "failed"
    return None


def scan(session: Session, number: int, names: dict[str, str], linker: Linker) -> Facts:
    facts = Facts()
    for role in ("paged", "acknowledged", "escalated by hand", "resolved", "wrote notes"):
        facts.roles[role] = []
    for event in iter_events(session, number):
        _fold(facts, event, names, linker)
    return facts


def _fold(facts: Facts, event: EventRow, names: dict[str, str], linker: Linker) -> None:
    who = actor_label(event.actor, names)
    facts.events += 1
    facts.kinds[event.kind] += 1
    kind = event.kind
    if kind == "paged":
        facts.pages += 1
        users = event.data.get("users")
        for user in users if isinstance(users, list) else []:
            name = actor_label(str(user), names)
            facts._role("paged", name)
            if name not in facts.paged:
                facts.paged.append(name)
        if _int(event.data.get("step")) > 1 or _int(event.data.get("round")) > 1:
            facts.escalations += 1
    elif kind == "page_gap":
        facts.gaps += 1
    elif kind == "acknowledged" and facts.first_ack is None:
        facts.first_ack = Moment(event.at, who)
    elif kind == "escalated":
        facts.escalations += 1
    elif kind == "reopened":
        facts.first_resolved_after_flap = None
    elif kind == "alerts_firing" and facts.first_alert_start is None:
        facts.first_alert_start = _earliest_start(event)
    elif kind == "alerts_resolved" and facts.first_resolved_after_flap is None:
        facts.first_resolved_after_flap = event.at
    elif kind == "resolved":
        facts.final_resolution, facts.final_resolution_at = event.id, event.at
        facts.final_resolver = "the alerts (all resolved)" if event.by_alerts else who
    elif kind == "note":
        _note(facts, event, who, linker)
    if kind.startswith("remediation"):
        _remediation(facts, event, who, linker)
    if event.actor.lower() not in SYSTEM_ACTORS:
        facts._role(ROLE_OF_KIND.get(kind) or _generic_role(kind), who)


def _generic_role(kind: str) -> str:
    words = kind.replace("_", " ").replace(".", " ").strip()
    return words or "other"


def _note(facts: Facts, event: EventRow, who: str, linker: Linker) -> None:
    if len(facts.notes) >= MAX_NOTES:
        facts.notes_hidden += 1
        return
    facts.notes.append(Note(event.at, who, " ".join(event.text.split()), linker.links(event)))


def _remediation(facts: Facts, event: EventRow, who: str, linker: Linker) -> None:
    data = event.data
    action = str(data.get("action") or data.get("name") or "?")
    item = Remediation(
        event.at,
        event.kind,
        action,
        who,
        outcome(event),
        " ".join(event.text.split()),
        linker.links(event),
    )
    if item.outcome == "succeeded" and facts.first_fix is None:
        facts.first_fix = item
    if len(facts.remediation) >= MAX_REMEDIATION:
        facts.remediation_hidden += 1
    else:
        facts.remediation.append(item)


def _earliest_start(event: EventRow) -> datetime | None:
    starts = []
    for alert in event.data.get("alerts") or []:
        try:
            start = datetime.fromisoformat(str(alert.get("starts_at")))
        except (AttributeError, ValueError):
            continue
        if start.tzinfo is not None:
            starts.append(start)
    return min(starts, default=None)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0

"""An incident's timeline as people read it: every event in order, each with a link to
its evidence, and runs of alert churn (a flapping or storming group) folded into one line
so a 5,000-event incident still reads in a page. Events are read in keyset pages, so
memory does not grow with the length of the timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import sqlalchemy as sa
from sqlmodel import Session

from bot.postmortem.durations import times
from bot.store.paging import keyset
from bot.store.tables import timeline

COLLAPSE_AFTER = 3  # a run of more alert events than this becomes one line
_LINKS_PER_LINE = 3

# Alert churn: what alerts do by themselves. A resolution by the alerts is churn unless it
# is the incident's last one (that one is the resolution people look for).
CHURN = frozenset(
    {"alerts_firing", "alerts_resolved", "alerts_muted", "alerts_unmuted", "reopened"}
)

KIND_LABELS = {
    "opened": "opened",
    "reopened": "reopened",
    "alerts_firing": "alerts firing",
    "alerts_resolved": "alerts resolved",
    "alerts_muted": "alerts muted",
    "alerts_unmuted": "alerts unmuted",
    "paged": "paged",
    "page_gap": "nobody to page",
    "escalated": "escalated",
    "escalation_waiting": "escalation waiting",
    "escalation_stopped": "escalation stopped",
    "ack_expired": "acknowledgement expired",
    "acknowledged": "acknowledged",
    "note": "note",
    "resolved": "resolved",
}

ACTOR_LABELS = {
    "alerts": "alert source",
    "escalation": "Pagerbot",
    "remediation": "Pagerbot (remediation)",
    "pagerbot": "Pagerbot",
}

# Where an event's `data` may say where it came from. Writers of new event kinds (chat,
# remediation) put links under these keys; the first found per kind of evidence is shown.
EVIDENCE_KEYS: tuple[tuple[str, str], ...] = (
    ("permalink", "Slack message"),
    ("slack_permalink", "Slack message"),
    ("output_url", "run output"),
    ("run_url", "run output"),
    ("url", "link"),
    ("source", "source"),  # a note taken from a chat message: its permalink
)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    at: datetime
    kind: str
    actor: str
    text: str
    data: dict[str, Any]

    @property
    def by_alerts(self) -> bool:
        return self.actor == "alerts"


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline: an event, or a folded run of alert events."""

    at: datetime
    until: datetime | None
    kind: str
    label: str
    actor: str
    text: str
    links: tuple[Link, ...]
    first_id: int
    events: int = 1

    @property
    def folded(self) -> bool:
        return self.events > 1


def kind_label(kind: str) -> str:
    """Known kinds by name; kinds added later (chat, remediation) still read well."""
    return KIND_LABELS.get(kind) or kind.replace("_", " ").replace(".", " ").strip() or "event"


def safe_url(url: object) -> str | None:
    """Only http(s) links; spaces and parentheses encoded so Markdown links stay whole."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def _is_slack(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "slack.com" or host.endswith(".slack.com")


def iter_events(session: Session, number: int, *, after: int = 0) -> Iterator[EventRow]:
    """All events of INC-`number` in order, read a page at a time."""
    query = sa.select(timeline).where(timeline.c.incident_id == number)
    for row in keyset(session, query, timeline.c.id, after=after):
        yield _event(row)


def _event(row: Any) -> EventRow:
    try:
        data = orjson.loads(row.data or "{}")
    except orjson.JSONDecodeError:
        data = {}
    return EventRow(
        row.id, row.at, row.kind, row.actor, row.text, data if isinstance(data, dict) else {}
    )


@dataclass(frozen=True, slots=True)
class Linker:
    """Turns an event into the links that prove it; the incident page is the fallback."""

    base_url: str
    number: int

    def event_url(self, event_id: int) -> str:
        return f"{self.base_url}/incidents/{self.number}?after={event_id - 1}#event-{event_id}"

    def links(self, event: EventRow) -> tuple[Link, ...]:
        out: list[Link] = []
        seen: set[str] = set()
        for key, label in EVIDENCE_KEYS:
            url = safe_url(event.data.get(key))
            if url and _is_slack(url):
                label = "Slack message"
            if url and url not in seen and label not in {link.label for link in out}:
                out.append(Link(label, url))
                seen.add(url)
        run = event.data.get("run", event.data.get("run_id"))
        if isinstance(run, int) and not isinstance(run, bool) and not out:
            out.append(Link(f"run #{run}", f"{self.base_url}/incidents/{self.number}#run-{run}"))
        for alert in _alerts_of(event):
            url = safe_url(alert.get("generator_url"))
            label = f"source: {alert.get('alertname') or 'alert'}"
            if url and len(out) < _LINKS_PER_LINE and label not in {x.label for x in out}:
                out.append(Link(label, url))
        if not out:
            out.append(Link(f"event #{event.id}", self.event_url(event.id)))
        return tuple(out)


def _alerts_of(event: EventRow) -> list[dict[str, Any]]:
    alerts = event.data.get("alerts")
    return [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []


def actor_label(actor: str, names: dict[str, str]) -> str:
    return ACTOR_LABELS.get(actor) or names.get(actor, actor)


@dataclass
class _Run:
    """A run of churn events being folded; keeps only counts and a few samples."""

    first: EventRow
    last: EventRow
    held: list[EventRow]
    kinds: Counter[str] = field(default_factory=Counter)
    alert_names: Counter[str] = field(default_factory=Counter)
    links: dict[str, Link] = field(default_factory=dict)

    def add(self, event: EventRow) -> None:
        self.last = event
        self.kinds[event.kind] += 1
        if len(self.held) <= COLLAPSE_AFTER:
            self.held.append(event)
        for alert in _alerts_of(event):
            name = str(alert.get("alertname") or alert.get("fingerprint") or "alert")
            if len(self.alert_names) < 50 or name in self.alert_names:
                self.alert_names[name] += 1
            url = safe_url(alert.get("generator_url"))
            if url and len(self.links) < _LINKS_PER_LINE and name not in self.links:
                self.links[name] = Link(f"source: {name}", url)


def _fold_text(run: _Run) -> str:
    parts = []
    for kind in ("alerts_firing", "alerts_resolved", "reopened", "resolved", "alerts_muted"):
        if run.kinds[kind]:
            parts.append(f"{run.kinds[kind]}x {kind_label(kind)}")
    for kind, count in sorted(run.kinds.items()):
        if kind not in {"alerts_firing", "alerts_resolved", "reopened", "resolved", "alerts_muted"}:
            parts.append(f"{count}x {kind_label(kind)}")
    flaps = run.kinds["reopened"]
    names = ", ".join(f"{n} ({c})" for n, c in run.alert_names.most_common(5))
    more = len(run.alert_names) - 5
    text = f"{sum(run.kinds.values())} alert events folded: " + ", ".join(parts)
    if flaps:
        text += f"; flapping: resolved and reopened {times(flaps)}"
    if names:
        text += f"; alerts: {names}" + (f" and {more} more" if more > 0 else "")
    return text


class Timeline:
    """Re-iterable: each pass reads the events again, so a template may loop twice and
    nothing holds the whole history in memory."""

    def __init__(
        self,
        session: Session,
        number: int,
        *,
        linker: Linker,
        names: dict[str, str],
        final_resolution: int | None,
    ) -> None:
        self._session = session
        self._number = number
        self._linker = linker
        self._names = names
        self._final = final_resolution

    def __iter__(self) -> Iterator[Entry]:
        return self._entries(iter_events(self._session, self._number))

    def _is_churn(self, event: EventRow) -> bool:
        if event.kind in CHURN:
            return True
        return event.kind == "resolved" and event.by_alerts and event.id != self._final

    def _entries(self, events: Iterator[EventRow]) -> Iterator[Entry]:
        run: _Run | None = None
        for event in events:
            if self._is_churn(event):
                if run is None:
                    run = _Run(event, event, [])
                run.add(event)
                continue
            if run is not None:
                yield from self._flush(run)
                run = None
            yield self.entry(event)
        if run is not None:
            yield from self._flush(run)

    def _flush(self, run: _Run) -> Iterator[Entry]:
        if sum(run.kinds.values()) <= COLLAPSE_AFTER:
            yield from (self.entry(e) for e in run.held)
            return
        links = tuple(run.links.values()) or (
            Link(f"events #{run.first.id}-#{run.last.id}", self._linker.event_url(run.first.id)),
        )
        yield Entry(
            at=run.first.at,
            until=run.last.at,
            kind="alert_activity",
            label="alert activity",
            actor=ACTOR_LABELS["alerts"],
            text=_fold_text(run),
            links=links,
            first_id=run.first.id,
            events=sum(run.kinds.values()),
        )

    def entry(self, event: EventRow) -> Entry:
        return Entry(
            at=event.at,
            until=None,
            kind=event.kind,
            label=kind_label(event.kind),
            actor=actor_label(event.actor, self._names),
            text=" ".join(event.text.split()) or kind_label(event.kind),
            links=self._linker.links(event),
            first_id=event.id,
        )

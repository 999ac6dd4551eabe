"""What a chat sink is told, and the interface every sink implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import orjson


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    title: str
    severity: str
    state: str
    team: str | None
    channel: str | None
    notify_only: bool
    firing_count: int
    alert_count: int
    flap_count: int
    muted_count: int
    group_labels: dict[str, str]
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @property
    def number(self) -> str:
        return f"INC-{self.id}"

    @property
    def muted(self) -> bool:
        """Every firing alert is silenced, in maintenance or inhibited: tell nobody new."""
        return self.firing_count > 0 and self.muted_count == self.firing_count

    @property
    def resolved_count(self) -> int:
        return self.alert_count - self.firing_count

    @property
    def marker(self) -> str:
        """Names this incident across databases: ids restart when a database is replaced."""
        return f"{self.id}:{int(self.created_at.timestamp())}"

    @classmethod
    def from_row(cls, row: Any) -> IncidentView:
        return cls(
            id=row.id,
            title=row.title,
            severity=row.severity,
            state=row.state,
            team=row.team,
            channel=row.channel,
            notify_only=row.notify_only,
            firing_count=row.firing_count,
            alert_count=row.alert_count,
            flap_count=row.flap_count,
            muted_count=row.muted_count,
            group_labels=orjson.loads(row.group_labels),
            created_at=row.created_at,
            acknowledged_at=row.acknowledged_at,
            resolved_at=row.resolved_at,
        )


@dataclass(frozen=True, slots=True)
class EventView:
    id: int
    at: datetime
    kind: str
    actor: str
    text: str


class Notifier(Protocol):
    """A chat sink. One message per incident, updated in place; events go to its thread.

    `message_ref` is what the sink returned the last time for this incident (None the
    first time), so it can update rather than post again; it returns the ref to keep.
    """

    async def incident_changed(
        self, incident: IncidentView, events: list[EventView], message_ref: str | None
    ) -> str | None: ...

    async def page(self, incident: IncidentView, user: str, contact: str | None, why: str) -> None:
        """Page one person: in chat, a mention in the incident thread and a direct message."""
        ...

    async def notify_user(self, user: str, text: str) -> None:
        """A direct message to one person (reminders, handoffs)."""
        ...


@dataclass(frozen=True, slots=True)
class AlertView:
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    starts_at: datetime


@dataclass(frozen=True, slots=True)
class RunbookView:
    name: str
    title: str
    url: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PersonView:
    name: str
    slack: str | None


@dataclass(frozen=True, slots=True)
class Details:
    """What a rich sink shows beyond the incident row, loaded when it is delivered.

    `attempt` > 1 says an earlier try may have reached chat before failing (a lost
    answer, a crash), so a sink that posts must first look for what it posted then.
    """

    attempt: int = 1
    alerts: tuple[AlertView, ...] = ()
    paged: tuple[PersonView, ...] = ()
    runbook: RunbookView | None = None
    entry_id: int = 0


@runtime_checkable
class OutboxSink(Protocol):
    """A Notifier that wants the details and the delivery attempt (Slack does).

    Raising `DeliveryError` tells the outbox when to retry and what was already posted.
    """

    async def deliver_update(
        self,
        incident: IncidentView,
        events: list[EventView],
        message_ref: str | None,
        details: Details,
    ) -> str | None: ...

    async def deliver_page(
        self,
        incident: IncidentView,
        person: PersonView,
        why: str,
        message_ref: str | None,
        details: Details,
    ) -> None: ...


class DeliveryError(Exception):
    """A delivery to retry. `retry_after`: chat said when (a 429), else the outbox backs
    off. `message_ref`: the message was posted before the failure; keep it, post no other."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, message_ref: str | None = None
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.message_ref = message_ref

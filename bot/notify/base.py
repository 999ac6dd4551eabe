"""What a chat sink is told, and the interface every sink implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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

"""The database schema. Alembic migrations in `migrations/` must match it (a test checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no offset, so we keep none anywhere."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index))


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    group_key: str = Field(index=True)
    route_id: str
    title: str
    severity: str
    team: str | None = None
    escalation: str | None = None
    channel: str | None = None
    notify_only: bool = False
    state: str = Field(index=True)
    group_labels: str = "{}"
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    acknowledged_at: datetime | None = _ts(nullable=True)
    resolved_at: datetime | None = _ts(nullable=True)
    flap_count: int = 0
    firing_count: int = 0
    alert_count: int = 0
    # firing alerts that a silence, window or inhibition mutes
    muted_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    @property
    def muted(self) -> bool:
        return self.firing_count > 0 and self.muted_count == self.firing_count


class AlertRow(SQLModel, table=True):
    __tablename__ = "alerts"

    incident_id: int = Field(primary_key=True, foreign_key="incidents.id")
    fingerprint: str = Field(primary_key=True, index=True)
    status: str
    labels: str
    annotations: str
    starts_at: datetime = _ts()
    ends_at: datetime | None = _ts(nullable=True)
    generator_url: str = ""
    source: str
    content_hash: str
    first_seen: datetime = _ts()
    last_changed: datetime = _ts()
    muted_by: str | None = None  # e.g. "silence:12", "maintenance:backups", "inhibited:<fp>"


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_events"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    at: datetime = _ts()
    kind: str
    actor: str
    text: str
    data: str = "{}"


class Silence(SQLModel, table=True):
    """A silence made at run time (YAML silences live in rules/)."""

    __tablename__ = "silences"

    id: int | None = Field(default=None, primary_key=True)
    matchers: str  # JSON list of matcher strings, e.g. ["alertname=\"X\""]
    starts_at: datetime = _ts()
    ends_at: datetime = _ts(index=True)
    owner: str
    reason: str
    created_by: str
    created_at: datetime = _ts()
    expired_at: datetime | None = _ts(nullable=True)
    alertmanager_id: str | None = None
    last_matched_at: datetime | None = _ts(nullable=True)
    reminded_expiry_at: datetime | None = _ts(nullable=True)
    reminded_unused_at: datetime | None = _ts(nullable=True)


class Counter(SQLModel, table=True):
    """Gap-free sequences: a row lock serialises numbering and a rollback returns the number."""

    __tablename__ = "counters"

    name: str = Field(primary_key=True)
    value: int = 0


class OutboxEntry(SQLModel, table=True):
    """Pending chat deliveries, written in the transaction that caused them."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    kind: str
    created_at: datetime = _ts()
    due_at: datetime = _ts(index=True)
    attempts: int = 0
    last_error: str | None = None
    done_at: datetime | None = _ts(nullable=True, index=True)
    payload: str | None = None  # JSON for kinds that carry data (pages)


class Escalation(SQLModel, table=True):
    """Where an incident's escalation stands. The due time lives here, not in memory, so a
    restart pages late rather than never, and replicas claim each due row once."""

    __tablename__ = "escalations"

    incident_id: int = Field(primary_key=True, foreign_key="incidents.id")
    policy: str
    started_at: datetime = _ts()  # offsets of the policy's steps count from here
    next_index: int = 0  # index into the policy's timeline (rounds x steps)
    due_at: datetime | None = _ts(nullable=True, index=True)  # None: nothing more to do
    reason: str = "opened"  # why this run started: opened, reopened, ack expired, manual


class OncallOverride(SQLModel, table=True):
    """Overrides made at run time when the config folder cannot be written."""

    __tablename__ = "oncall_overrides"

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(index=True)
    user: str
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    created_by: str
    created_at: datetime = _ts()


class Handoff(SQLModel, table=True):
    """A shift change seen by the bot: digest sent, accepted, or escalated."""

    __tablename__ = "handoffs"

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(index=True)
    at: datetime = _ts()
    outgoing: str | None = None
    incoming: str | None = None
    digest_sent_at: datetime | None = _ts(nullable=True)
    accepted_at: datetime | None = _ts(nullable=True)
    escalated_at: datetime | None = _ts(nullable=True)


class NotifyCursor(SQLModel, table=True):
    """How far the chat has been told about each incident's timeline."""

    __tablename__ = "notify_cursors"

    incident_id: int = Field(primary_key=True, foreign_key="incidents.id")
    last_event_id: int = 0
    message_ref: str | None = None


incidents = Incident.__table__  # type: ignore[attr-defined]
alerts = AlertRow.__table__  # type: ignore[attr-defined]
timeline = TimelineEvent.__table__  # type: ignore[attr-defined]
counters = Counter.__table__  # type: ignore[attr-defined]
outbox = OutboxEntry.__table__  # type: ignore[attr-defined]
notify_cursors = NotifyCursor.__table__  # type: ignore[attr-defined]
silences = Silence.__table__  # type: ignore[attr-defined]
escalations = Escalation.__table__  # type: ignore[attr-defined]
oncall_overrides = OncallOverride.__table__  # type: ignore[attr-defined]
handoffs = Handoff.__table__  # type: ignore[attr-defined]
metadata = SQLModel.metadata

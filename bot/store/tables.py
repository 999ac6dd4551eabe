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
    # Pending entries of an incident, found without reading its delivered history: a
    # day-long storm leaves thousands of done rows on one incident, and every claim and
    # every webhook's enqueue asks for its pending ones.
    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "incident_id",
            "id",
            sqlite_where=sa.text("done_at IS NULL"),
            postgresql_where=sa.text("done_at IS NULL"),
        ),
    )

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
    # One row per shift change: replicas that see the same handoff insert it once.
    __table_args__ = (sa.Index("uq_handoffs_schedule_at", "schedule", "at", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(index=True)
    at: datetime = _ts()
    outgoing: str | None = None
    incoming: str | None = None
    digest_sent_at: datetime | None = _ts(nullable=True)
    accepted_at: datetime | None = _ts(nullable=True)
    escalated_at: datetime | None = _ts(nullable=True)
    claimed_until: datetime | None = _ts(nullable=True)  # a replica's lease on sending
    ack_due_at: datetime | None = _ts(nullable=True, index=True)  # escalate if not accepted


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


class RemediationRun(SQLModel, table=True):
    """One request to run a runbook action: the exact rendering that was shown and
    approved, who asked and who approved, and how it ended."""

    __tablename__ = "remediation_runs"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    runbook: str
    action: str = Field(index=True)
    kind: str  # run | http
    spec: str  # JSON snapshot of the action definition as approved
    rendered: str  # JSON: the argument list, or the HTTP request
    state: str = Field(index=True)
    trigger: str  # slack | cli | auto
    requested_by: str
    requested_at: datetime = _ts()
    approvals_needed: int = 1
    approved_by: str = "[]"  # JSON list of identities, in order
    expires_at: datetime | None = _ts(nullable=True)
    decided_by: str | None = None  # who denied it
    reason: str | None = None  # denial reason, or why it was refused or interrupted
    runner: str | None = None  # process that runs it: "bot:HOST:ID" or "cli:HOST:ID"
    heartbeat_at: datetime | None = _ts(nullable=True)
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)
    exit_code: int | None = None
    output: str | None = None  # captured output, capped
    output_bytes: int = 0  # bytes produced, including what the cap left out
    digest: str | None = None  # sha256 of everything produced
    chat_ref: str | None = None  # the approval message in chat, to update in place


remediation_runs = RemediationRun.__table__  # type: ignore[attr-defined]


class ChatRequest(SQLModel, table=True):
    """A chat request already handled, by Slack's trigger id: Slack retries and Socket Mode
    redeliveries carry the same id, so the second copy changes nothing."""

    __tablename__ = "chat_requests"

    key: str = Field(primary_key=True)
    created_at: datetime = _ts(index=True)
    result: str | None = None  # what the first copy answered, e.g. the incident it opened


class IncidentFeedback(SQLModel, table=True):
    """Actionable or noise? One answer per person per incident, for the alert-quality
    report."""

    __tablename__ = "incident_feedback"

    incident_id: int = Field(primary_key=True, foreign_key="incidents.id")
    user: str = Field(primary_key=True)  # member name, or the Slack id of a non-member
    slack_user: str | None = None
    answer: str  # actionable | noise
    at: datetime = _ts()


class CoverRequest(SQLModel, table=True):
    """`/oncall cover`: a request to teammates to take over; the first to accept wins."""

    __tablename__ = "cover_requests"

    id: int | None = Field(default=None, primary_key=True)
    schedule: str
    requester: str
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    created_at: datetime = _ts()
    accepted_by: str | None = None
    accepted_at: datetime | None = _ts(nullable=True)
    messages: str = "[]"  # JSON [[channel, ts], ...] of the asks, to update when taken


chat_requests = ChatRequest.__table__  # type: ignore[attr-defined]
incident_feedback = IncidentFeedback.__table__  # type: ignore[attr-defined]
cover_requests = CoverRequest.__table__  # type: ignore[attr-defined]

"""The schema of rules/*.yaml. Unknown keys are errors: a typo must never route silently.

Times written without an offset are wall-clock times in the object's `timezone`.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from bot.durations import Duration
from bot.rules.matchers import Matcher, Op, check_matcher_strings

ALL_LABELS = "..."
Day = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DAYS: tuple[Day, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"


def _name(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(NAME_PATTERN, value):
        raise ValueError(
            f"invalid name {value!r}: use letters, digits, '_', '.' and '-' "
            "(up to 63, starting with a letter or digit)"
        )
    return value


Name = Annotated[str, Field(pattern=NAME_PATTERN), BeforeValidator(_name)]


def _timezone(value: Any) -> Any:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from None
    return value


def _clock(value: Any) -> Any:
    if isinstance(value, str):
        if value == "24:00":
            return time.max
        if not re.fullmatch(r"\d{2}:\d{2}", value):
            raise ValueError(f"invalid time {value!r}: write HH:MM, like 08:00")
        return time.fromisoformat(value)
    return value


def _local_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"invalid date-time {value!r}: write it like 2026-01-05T09:00"
            ) from None
    if isinstance(value, datetime):
        return datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.tzinfo,
        )
    raise ValueError("expected a date-time like 2026-01-05T09:00")


def check_order(start: datetime, end: datetime, what: str, keys: str = "from and to") -> None:
    """`end` after `start`; both local (in the object's timezone) or both with an offset,
    since a mix is almost always a slip and cannot be compared as written."""
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise ValueError(
            f"{what}: write {keys} both with a UTC offset or both without "
            "(then both are in its timezone)"
        )
    if end <= start:
        raise ValueError(f"{what} must end after it starts")


TimeZone = Annotated[
    str,
    BeforeValidator(_timezone),
    WithJsonSchema({"type": "string", "examples": ["Europe/Berlin"]}),
]
Clock = Annotated[
    time,
    BeforeValidator(_clock),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}:\d{2}$", "examples": ["08:00"]}),
]
LocalDateTime = Annotated[
    datetime,
    BeforeValidator(_local_datetime),
    WithJsonSchema(
        {
            "type": "string",
            "examples": ["2026-01-05T09:00"],
            "description": "local time in the object's timezone unless it has an offset",
        }
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matching(Strict):
    """Three ways to say which alerts: Alertmanager's old `match`/`match_re` maps and its
    matcher strings (which add the negative `!=` and `!~`)."""

    match: dict[str, str] = Field(default_factory=dict, description="label equals value")
    match_re: dict[str, str] = Field(
        default_factory=dict, description="label matches anchored regex"
    )
    matchers: list[str] = Field(
        default_factory=list, description='matcher strings: team="x", env=~"a|b", sev!="info"'
    )

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            Matcher.make(label, Op.RE, pattern)
        return value

    @field_validator("matchers")
    @classmethod
    def _matcher_strings(cls, value: list[str]) -> list[str]:
        return check_matcher_strings(value)

    def compiled(self) -> tuple[Matcher, ...]:
        out = [Matcher.make(k, Op.EQ, v) for k, v in sorted(self.match.items())]
        out += [Matcher.make(k, Op.RE, v) for k, v in sorted(self.match_re.items())]
        out += [Matcher.parse(t) for t in self.matchers]
        return tuple(out)


# ---------------------------------------------------------------- teams


class Member(Strict):
    slack: str | None = Field(default=None, description="Slack member id, like U01ALICE")
    tz: TimeZone = Field(default="UTC", description="the person's own time zone")
    email: str | None = None


class Team(Strict):
    members: dict[Name, Member] = Field(default_factory=dict)
    channel: str | None = Field(default=None, description="Slack channel, like #payments-alerts")


# ---------------------------------------------------------------- schedules


class Restriction(Strict):
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    from_: Clock = Field(default=time(0, 0), alias="from")
    to: Clock = Field(default=time.max)


class Layer(Strict):
    rotation: Literal["daily", "weekly", "custom"]
    start: LocalDateTime = Field(description="first shift of members[0]")
    handoff: str | None = Field(
        default=None, description='wall-clock handoff: "08:00" (daily/custom) or "Mon 09:00"'
    )
    shift_length: Duration | None = None
    members: list[Name] = Field(min_length=1)
    restrict: Restriction | None = None

    @model_validator(mode="after")
    def _shape(self) -> Layer:
        if self.rotation == "custom" and self.shift_length is None:
            raise ValueError("a custom rotation needs shift_length")
        if self.rotation != "custom" and self.shift_length is not None:
            raise ValueError(f"shift_length is only for custom rotations, not {self.rotation}")
        if self.shift_length is not None and self.shift_length <= timedelta(0):
            raise ValueError("shift_length must be positive")
        if self.handoff is not None:
            pattern = (
                r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2}:\d{2}"
                if self.rotation == "weekly"
                else r"\d{2}:\d{2}"
            )
            if not re.fullmatch(pattern, self.handoff):
                example = '"Mon 09:00"' if self.rotation == "weekly" else '"08:00"'
                raise ValueError(f"handoff {self.handoff!r}: write it like {example}")
            hours, minutes = map(int, self.handoff[-5:].split(":"))
            if hours > 24 or minutes > 59 or (hours == 24 and minutes):
                raise ValueError(f"handoff {self.handoff!r}: not a time of day (00:00 to 24:00)")
        return self


class Override(Strict):
    user: Name
    from_: LocalDateTime = Field(alias="from")
    to: LocalDateTime

    @model_validator(mode="after")
    def _order(self) -> Override:
        check_order(self.from_, self.to, "an override")
        return self


class Schedule(Strict):
    timezone: TimeZone
    layers: list[Layer] = Field(min_length=1)
    overrides: list[Override] = Field(default_factory=list)
    handoff_ack: Duration | None = None


# ---------------------------------------------------------------- escalation


class During(Strict):
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    from_: Clock = Field(default=time(0, 0), alias="from")
    to: Clock = Field(default=time.max)


NOTIFY_PATTERN = r"^(schedule|team|user):[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class Step(Strict):
    notify: str = Field(
        pattern=NOTIFY_PATTERN,
        description="schedule:NAME, team:NAME or user:NAME",
    )
    after: Duration = timedelta(0)
    during: During | None = None

    @field_validator("notify", mode="before")
    @classmethod
    def _notify(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(NOTIFY_PATTERN, value):
            raise ValueError(f"notify {value!r}: write schedule:NAME, team:NAME or user:NAME")
        return value

    @property
    def target(self) -> tuple[str, str]:
        kind, _, name = self.notify.partition(":")
        return kind, name


def _policy_shape(value: Any) -> Any:
    return {"steps": value} if isinstance(value, list) else value


class EscalationPolicy(Strict):
    steps: list[Step] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=100, description="run all steps again N times")
    repeat_after: Duration | None = Field(
        default=None,
        description="gap between the last step and the next round (default: the last gap "
        "between steps, or 10m for a one-step policy)",
    )
    ack_timeout: Duration | None = None
    timezone: TimeZone = "UTC"

    def cycle(self) -> timedelta:
        """How long one round of steps lasts before the next round starts."""
        if self.repeat_after is not None:
            gap = self.repeat_after
        elif len(self.steps) > 1:
            gap = self.steps[-1].after - self.steps[-2].after
        else:
            gap = timedelta(minutes=10)
        return self.steps[-1].after + max(gap, timedelta(minutes=1))

    def timeline(self) -> list[tuple[timedelta, int, int, Step]]:
        """Every page this policy makes if nobody acknowledges: (offset, round, step, Step)."""
        cycle = self.cycle()
        return [
            (cycle * r + step.after, r + 1, i + 1, step)
            for r in range(self.repeat + 1)
            for i, step in enumerate(self.steps)
        ]

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("steps must be in order of `after`")
        return self


Policy = Annotated[EscalationPolicy, BeforeValidator(_policy_shape)]


# ---------------------------------------------------------------- routes


class RouteSettings(Strict):
    """What a route decides; children inherit every field they leave unset."""

    group_by: list[str] | None = None
    team: Name | None = None
    escalation: Name | None = None
    channel: str | None = None
    notify_only: bool | None = None
    runbook: str | None = Field(default=None, description="runbook name, else found by match")
    severity: dict[str, str] | None = Field(
        default=None, description="maps the alert's severity label to ours, e.g. {P1: critical}"
    )
    flap_window: Duration | None = Field(
        default=None, description="a resolved incident whose alert fires again within this reopens"
    )

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        if value and ALL_LABELS in value and len(value) > 1:
            raise ValueError("'...' groups by all labels and cannot be combined with names")
        return value


class Route(RouteSettings, Matching):
    continue_: bool = Field(
        default=False, alias="continue", description="keep matching later siblings after this route"
    )
    routes: list[Route] = Field(default_factory=list)


class Defaults(RouteSettings):
    """The catch-all route, and what every route inherits."""

    group_by: list[str] | None = Field(default_factory=lambda: ["alertname"])
    notify_only: bool | None = False
    flap_window: Duration | None = timedelta(minutes=5)
    resolve_timeout: Duration = Field(
        default=timedelta(minutes=5),
        description="an API v2 alert with no endsAt resolves after this, as in Alertmanager",
    )


# ---------------------------------------------------------------- muting


class InhibitRule(Strict):
    source: dict[str, str] = Field(default_factory=dict)
    source_re: dict[str, str] = Field(default_factory=dict)
    source_matchers: list[str] = Field(default_factory=list)
    target: dict[str, str] = Field(default_factory=dict)
    target_re: dict[str, str] = Field(default_factory=dict)
    target_matchers: list[str] = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)

    def sides(self) -> tuple[Matching, Matching]:
        return (
            Matching(match=self.source, match_re=self.source_re, matchers=self.source_matchers),
            Matching(match=self.target, match_re=self.target_re, matchers=self.target_matchers),
        )

    @field_validator("source_re", "target_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            Matcher.make(label, Op.RE, pattern)
        return value

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matcher_strings(cls, value: list[str]) -> list[str]:
        return check_matcher_strings(value)

    @model_validator(mode="after")
    def _valid(self) -> InhibitRule:
        source, target = self.sides()
        if not source.compiled() or not target.compiled():
            raise ValueError("an inhibit rule needs both source and target matchers")
        return self


class Recurrence(Strict):
    days: list[Day] = Field(default_factory=lambda: list(DAYS))
    from_: Clock = Field(alias="from")
    to: Clock


class MaintenanceWindow(Matching):
    name: str | None = None
    timezone: TimeZone = "UTC"
    from_: LocalDateTime | None = Field(default=None, alias="from")
    to: LocalDateTime | None = None
    every: Recurrence | None = Field(
        default=None, description="recurring window, e.g. {days: [Sun], from: '02:00', to: '04:00'}"
    )

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        if not self.compiled():
            raise ValueError("a maintenance window needs matchers (it would mute everything)")
        if self.every is None and (self.from_ is None or self.to is None):
            raise ValueError("a maintenance window needs from and to, or every")
        if self.from_ is not None and self.to is not None:
            check_order(self.from_, self.to, "a maintenance window")
        return self


class StaticSilence(Matching):
    owner: Name
    reason: str = Field(min_length=1)
    ends: LocalDateTime
    starts: LocalDateTime | None = None
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _shape(self) -> StaticSilence:
        if not self.compiled():
            raise ValueError("a silence needs matchers (it would mute everything)")
        if self.starts is not None:
            check_order(self.starts, self.ends, "a silence", "starts and ends")
        return self


# ---------------------------------------------------------------- the whole


class RulesConfig(Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    teams: dict[Name, Team] = Field(default_factory=dict)
    schedules: dict[Name, Schedule] = Field(default_factory=dict)
    escalation_policies: dict[Name, Policy] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    silences: list[StaticSilence] = Field(default_factory=list)

    def users(self) -> dict[str, Member]:
        out: dict[str, Member] = {}
        for team in self.teams.values():
            out.update(team.members)
        return out

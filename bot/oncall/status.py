"""Who is on call at an instant, told per schedule and per layer, for people and programs
(`pagerbot oncall`, the Slack `/oncall who`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.oncall.localtime import as_utc, config_instant
from bot.oncall.rotation import (
    DbOverride,
    Shift,
    gaps,
    layer_on_call,
    next_handoff,
    who_is_on_call,
)
from bot.rules.model import Schedule

GAP_HORIZON = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class OverrideView:
    user: str
    start: datetime
    end: datetime
    stored: bool  # True: from the database, False: from the YAML


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    name: str
    timezone: str
    at: datetime
    on_call: Shift | None
    layers: list[tuple[str, Shift | None]]  # (rotation, who the layer alone has)
    overrides: list[OverrideView]  # in force at `at` or later
    next_handoff: datetime | None
    gaps: list[tuple[datetime, datetime]]  # within GAP_HORIZON of `at`

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.name,
            "timezone": self.timezone,
            "at": _iso(self.at),
            "on_call": _shift(self.on_call),
            "layers": [
                {"layer": i, "rotation": rotation, "on_call": _shift(shift)}
                for i, (rotation, shift) in enumerate(self.layers)
            ],
            "overrides": [
                {
                    "user": o.user,
                    "start": _iso(o.start),
                    "end": _iso(o.end),
                    "source": "database" if o.stored else "yaml",
                }
                for o in self.overrides
            ],
            "next_handoff": _iso(self.next_handoff) if self.next_handoff else None,
            "gaps": [{"start": _iso(s), "end": _iso(e)} for s, e in self.gaps],
            "gaps_checked_until": _iso(self.at + GAP_HORIZON),
        }


def _iso(value: datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


def _shift(shift: Shift | None) -> dict[str, Any] | None:
    if shift is None:
        return None
    return {
        "user": shift.user,
        "start": _iso(shift.start),
        "end": _iso(shift.end),
        "layer": shift.layer,
        "source": "override" if shift.layer is None else f"layer {shift.layer}",
    }


def status(
    name: str, schedule: Schedule, at: datetime, stored: Sequence[DbOverride] = ()
) -> ScheduleStatus:
    at = as_utc(at, "at")
    zone = ZoneInfo(schedule.timezone)
    overrides = [
        OverrideView(o.user, config_instant(o.from_, zone), config_instant(o.to, zone), False)
        for o in schedule.overrides
    ] + [OverrideView(o.user, as_utc(o.start), as_utc(o.end), True) for o in stored]
    return ScheduleStatus(
        name=name,
        timezone=schedule.timezone,
        at=at,
        on_call=who_is_on_call(schedule, at, stored),
        layers=[
            (layer.rotation, layer_on_call(schedule, i, at))
            for i, layer in enumerate(schedule.layers)
        ],
        overrides=sorted((o for o in overrides if o.end > at), key=lambda o: o.start),
        next_handoff=next_handoff(schedule, at, stored),
        gaps=gaps(schedule, at, at + GAP_HORIZON, stored),
    )

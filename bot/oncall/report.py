"""The fairness report: per person, the load of every schedule summed, with the pages
they got (from the timeline) — the figures that show who is burning out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.oncall.fairness import NIGHT, hours_report
from bot.oncall.rotation import DbOverride
from bot.rules.model import RulesConfig

_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PageRecord:
    at: datetime
    users: tuple[str, ...]
    notify: str  # schedule:X, team:X or user:X


@dataclass(slots=True)
class PersonLoad:
    on_call: timedelta = timedelta(0)
    night: timedelta = timedelta(0)
    weekend: timedelta = timedelta(0)
    shifts: int = 0
    pages: int = 0
    night_pages: int = 0
    schedules: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "hours": round(self.on_call / _HOUR, 2),
            "night_hours": round(self.night / _HOUR, 2),
            "weekend_hours": round(self.weekend / _HOUR, 2),
            "shifts": self.shifts,
            "pages": self.pages,
            "night_pages": self.night_pages,
            "schedules": self.schedules,
        }


def at_night(at: datetime, tz: str) -> bool:
    """22:00-07:00 on the person's own wall clock."""
    clock = at.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None)
    start, end = NIGHT
    return clock >= start or clock < end if start > end else start <= clock < end


def load_report(
    rules: RulesConfig,
    start: datetime,
    end: datetime,
    *,
    stored: Mapping[str, Sequence[DbOverride]],
    pages: Iterable[PageRecord],
    schedules: Sequence[str] | None = None,
) -> dict[str, PersonLoad]:
    """With `schedules`, only their hours and the pages they caused; else every
    schedule and every page (team and user steps included)."""
    zones = {name: member.tz for name, member in rules.users().items()}
    names = list(rules.schedules) if schedules is None else list(schedules)
    out: dict[str, PersonLoad] = {}
    for name in names:
        tally = hours_report(rules.schedules[name], start, end, zones, stored.get(name, ()))
        for user, fair in tally.items():
            person = out.setdefault(user, PersonLoad())
            person.on_call += fair.on_call
            person.night += fair.night
            person.weekend += fair.weekend
            person.shifts += fair.shifts
            person.schedules.append(name)
    wanted = None if schedules is None else {f"schedule:{n}" for n in schedules}
    for page in pages:
        if not start <= page.at < end or (wanted is not None and page.notify not in wanted):
            continue
        for user in page.users:
            person = out.setdefault(user, PersonLoad())
            person.pages += 1
            person.night_pages += at_night(page.at, zones.get(user, "UTC"))
    return dict(sorted(out.items()))


__all__ = ["NIGHT", "PageRecord", "PersonLoad", "at_night", "load_report"]

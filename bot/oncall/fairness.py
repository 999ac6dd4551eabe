"""How the load of a schedule falls on people: hours on call, at night, at weekends.

Night (22:00-07:00) and weekend (Saturday and Sunday) are read on each person's own
wall clock, not the schedule's: a Berlin schedule's evening is New York's afternoon.
Everything is summed over instants, so a 25-hour day counts 25 hours and a night with
the clocks going back lasts ten. People without a known zone are counted in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.oncall.localtime import DailyWindows
from bot.oncall.rotation import AnyOverride, Shift, final_shifts
from bot.rules.model import Schedule

ALL_DAYS = frozenset(range(7))
NIGHT = (time(22, 0), time(7, 0))
WEEKEND = frozenset({5, 6})
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Fairness:
    on_call: timedelta = timedelta(0)
    night: timedelta = timedelta(0)
    weekend: timedelta = timedelta(0)
    shifts: int = 0  # pieces of the final schedule (touching pieces of one source are one)

    @property
    def hours(self) -> float:
        return self.on_call / _HOUR

    @property
    def night_hours(self) -> float:
        return self.night / _HOUR

    @property
    def weekend_hours(self) -> float:
        return self.weekend / _HOUR


@dataclass(slots=True)
class _Tally:
    zone: ZoneInfo
    on_call: timedelta = timedelta(0)
    night: timedelta = timedelta(0)
    weekend: timedelta = timedelta(0)
    shifts: int = 0
    nights: DailyWindows | None = field(init=False)
    weekends: DailyWindows | None = field(init=False)

    def __post_init__(self) -> None:
        self.nights = DailyWindows.of(self.zone, ALL_DAYS, *NIGHT)
        self.weekends = DailyWindows.of(self.zone, WEEKEND, time(0, 0), time.max)

    def add(self, shift: Shift) -> None:
        self.on_call += shift.duration
        self.night += _overlap(self.nights, shift)
        self.weekend += _overlap(self.weekends, shift)
        self.shifts += 1

    def frozen(self) -> Fairness:
        return Fairness(self.on_call, self.night, self.weekend, self.shifts)


def _overlap(windows: DailyWindows | None, shift: Shift) -> timedelta:
    if windows is None:
        return shift.duration
    found = windows.between(shift.start, shift.end)
    return sum((end - start for start, end in found), timedelta(0))


def hours_report(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    user_tz: dict[str, str],
    extra_overrides: Iterable[AnyOverride] = (),
) -> dict[str, Fairness]:
    """Every layer member appears, with zeros if the range gave them nothing; people
    who only took overrides appear too. Gaps count for nobody (see `gaps`)."""
    tallies: dict[str, _Tally] = {}

    def tally(user: str) -> _Tally:
        if user not in tallies:
            tallies[user] = _Tally(ZoneInfo(user_tz.get(user, "UTC")))
        return tallies[user]

    for layer in schedule.layers:
        for member in layer.members:
            tally(member)
    for shift in final_shifts(schedule, start, end, extra_overrides):
        tally(shift.user).add(shift)
    return {user: t.frozen() for user, t in sorted(tallies.items())}

"""A layer's rotation and restriction, and an override, as sources of coverage.

Every source answers the same four questions in constant time (no walking shifts from
the layer's start): what it covers around an instant, when it next covers, when it last
stopped covering, and its pieces in a range. `rotation.py` resolves sources by priority.

Shift n of a daily or weekly layer: n = 0 runs from `start` to the first handoff strictly
after it, n >= 1 from handoff n-1 to handoff n; handoff k is the wall-clock handoff on
the k-th day (or week) after the first, so it stays at, say, 09:00 local across DST.
Shift n of a custom layer is [start + n*length, start + (n+1)*length) in elapsed time.
Member n % len(members) covers shift n.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.oncall.localtime import (
    DAY,
    DailyWindows,
    config_instant,
    local_date,
    midnight,
    remember,
    to_utc,
    wall,
)
from bot.rules.model import DAYS, Layer

_HANDOFF = re.compile(r"^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?(\d{2}):(\d{2})$")
_WEEKDAY: dict[str, int] = {day: i for i, day in enumerate(DAYS)}


@dataclass(frozen=True, slots=True)
class Piece:
    start: datetime
    end: datetime
    user: str


class Source(Protocol):
    def segment(self, t: datetime) -> Piece | None: ...
    def next_cover(self, t: datetime) -> datetime | None: ...
    def last_end(self, t: datetime) -> datetime | None: ...
    def pieces(self, lo: datetime, hi: datetime) -> list[Piece]: ...


class Rotation(Protocol):
    @property
    def start(self) -> datetime: ...

    def index_at(self, t: datetime) -> int: ...
    def end_of(self, n: int) -> datetime: ...


@dataclass(frozen=True, slots=True)
class CalendarRotation:
    zone: ZoneInfo
    start: datetime
    first: datetime  # wall clock of the first handoff strictly after start
    step: timedelta  # one day or one week of wall clock
    memo: dict[int, datetime] = field(default_factory=dict, compare=False, repr=False)

    def end_of(self, n: int) -> datetime:
        found = self.memo.get(n)
        if found is None:
            found = remember(self.memo, n, to_utc(self.first + n * self.step, self.zone))
        return found

    def index_at(self, t: datetime) -> int:
        """Count calendar days from the first handoff on the wall clock, then settle the
        last step on instants (a handoff in a gap or a repeated hour is near midnight
        of nothing: only instants order it)."""
        if t < self.end_of(0):
            return 0
        k = max(0, (local_date(t, self.zone) - self.first.date()).days // self.step.days)
        lo, hi = self.end_of(k), self.end_of(k + 1)
        while hi <= t:
            k += 1
            lo, hi = hi, self.end_of(k + 1)
        while lo > t:
            k -= 1
            lo, hi = self.end_of(k), lo
        return k + 1


@dataclass(frozen=True, slots=True)
class CustomRotation:
    start: datetime
    length: timedelta

    def end_of(self, n: int) -> datetime:
        return self.start + (n + 1) * self.length

    def index_at(self, t: datetime) -> int:
        return (t - self.start) // self.length


def parse_handoff(text: str) -> tuple[int | None, timedelta]:
    """("Mon 09:00") -> (0, 9h); "24:00" is the end of the day. The model only checks
    the shape, so the range is checked here."""
    match = _HANDOFF.match(text)
    hours, minutes = (int(match.group(2)), int(match.group(3))) if match else (99, 99)
    if match is None or minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"handoff {text!r}: write a time like 08:00 or Mon 09:00")
    weekday = _WEEKDAY[match.group(1)] if match.group(1) else None
    return weekday, timedelta(hours=hours, minutes=minutes)


def _first_handoff(
    zone: ZoneInfo, start: datetime, local: datetime, weekday: int | None, clock: timedelta
) -> datetime:
    step = DAY if weekday is None else 7 * DAY
    day = local.date() - DAY
    if weekday is not None:
        day -= (day.weekday() - weekday) % 7 * DAY
    while to_utc(midnight(day) + clock, zone) <= start:
        day += step
    return midnight(day) + clock


def rotation_of(layer: Layer, zone: ZoneInfo) -> Rotation:
    """A custom layer's `handoff` is informational: its shifts start at `start`."""
    start = config_instant(layer.start, zone)
    if layer.rotation == "custom":
        assert layer.shift_length is not None  # the model guarantees it
        return CustomRotation(start, layer.shift_length)
    local = layer.start.replace(tzinfo=None) if layer.start.tzinfo is None else wall(start, zone)
    if layer.handoff is not None:
        weekday, clock = parse_handoff(layer.handoff)
    else:
        weekday, clock = local.weekday(), local - midnight(local.date())
    if layer.rotation == "daily":
        weekday = None
    elif weekday is None:  # the model insists on a weekday; stay weekly regardless
        weekday = local.weekday()
    first = _first_handoff(zone, start, local, weekday, clock)
    return CalendarRotation(zone, start, first, DAY if weekday is None else 7 * DAY)


@dataclass(frozen=True, slots=True)
class LayerSource:
    rotation: Rotation
    members: tuple[str, ...]
    windows: DailyWindows | None  # None: no restriction

    @classmethod
    def of(cls, layer: Layer, zone: ZoneInfo) -> LayerSource:
        windows = None
        if layer.restrict is not None:
            days = frozenset(_WEEKDAY[d] for d in layer.restrict.days)
            windows = DailyWindows.of(zone, days, layer.restrict.from_, layer.restrict.to)
        return cls(rotation_of(layer, zone), tuple(layer.members), windows)

    @property
    def start(self) -> datetime:
        return self.rotation.start

    def shift(self, n: int) -> tuple[datetime, datetime]:
        begin = self.start if n == 0 else self.rotation.end_of(n - 1)
        return begin, self.rotation.end_of(n)

    def segment(self, t: datetime) -> Piece | None:
        if t < self.start:
            return None
        n = self.rotation.index_at(t)
        begin, end = self.shift(n)
        if self.windows is not None:
            window = self.windows.containing(t)
            if window is None:
                return None
            begin, end = max(begin, window[0]), min(end, window[1])
        return Piece(begin, end, self.members[n % len(self.members)])

    def next_cover(self, t: datetime) -> datetime | None:
        t = max(t, self.start)
        return t if self.windows is None else self.windows.next_from(t)

    def last_end(self, t: datetime) -> datetime | None:
        if t <= self.start or self.windows is None:
            return None
        end = self.windows.last_end_before(t)
        return end if end is not None and end > self.start else None

    def shifts(self, lo: datetime, hi: datetime) -> Iterator[tuple[int, datetime, datetime]]:
        """Shift number, start, end of the shifts overlapping [lo, hi), clipped."""
        lo = max(lo, self.start)
        if lo >= hi:
            return
        n = self.rotation.index_at(lo)
        begin, end = self.shift(n)
        while begin < hi:
            if end > begin:  # a handoff swallowed by an offset change gives an empty shift
                yield n, max(begin, lo), min(end, hi)
            n += 1
            begin, end = end, self.rotation.end_of(n)

    def pieces(self, lo: datetime, hi: datetime) -> list[Piece]:
        shifts = list(self.shifts(lo, hi))
        if not shifts:
            return []
        if self.windows is None:
            return [Piece(b, e, self.members[n % len(self.members)]) for n, b, e in shifts]
        windows = self.windows.between(shifts[0][1], shifts[-1][2])
        out: list[Piece] = []
        i = j = 0
        while i < len(shifts) and j < len(windows):
            n, s_begin, s_end = shifts[i]
            w_begin, w_end = windows[j]
            begin, end = max(s_begin, w_begin), min(s_end, w_end)
            if begin < end:
                out.append(Piece(begin, end, self.members[n % len(self.members)]))
            if s_end <= w_end:
                i += 1
            else:
                j += 1
        return out


@dataclass(frozen=True, slots=True)
class OverrideSource:
    user: str
    start: datetime
    end: datetime

    def segment(self, t: datetime) -> Piece | None:
        return Piece(self.start, self.end, self.user) if self.start <= t < self.end else None

    def next_cover(self, t: datetime) -> datetime | None:
        return max(t, self.start) if t < self.end else None

    def last_end(self, t: datetime) -> datetime | None:
        return self.end if self.end <= t else None

    def pieces(self, lo: datetime, hi: datetime) -> list[Piece]:
        begin, end = max(lo, self.start), min(hi, self.end)
        return [Piece(begin, end, self.user)] if begin < end else []

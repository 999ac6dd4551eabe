"""Wall clock and instants in one IANA zone, with the two DST rules every schedule obeys.

A wall-clock time that does not exist (the spring-forward gap) means the first instant
after the gap: a 02:30 handoff on the night Berlin jumps from 02:00 to 03:00 happens at
03:00 CEST (01:00 UTC). A wall-clock time that happens twice (fall back) means its first
occurrence. Both rules keep the mapping from wall clock to instants monotone, so a
wall-clock interval is always an instant interval (possibly empty), and nothing here
ever compares wall-clock readings where instants decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

K = TypeVar("K")
V = TypeVar("V")

_TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)
# A window opens on its own day and may run into the next; add a day of margin for
# offset changes (even Samoa skipping 30 December 2011), and the window holding an
# instant opened at most two local days before the instant's local date.
_MARGIN_DAYS = 2
# A restricted layer covers something at least every week; two weeks also survive a
# week whose only window fell entirely into a DST gap.
_SEARCH_DAYS = 15
_MEMO_LIMIT = 4096


def remember(memo: dict[K, V], key: K, value: V) -> V:
    """Memoize wall-clock conversions on long-lived compiled schedules, bounded."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def as_utc(value: datetime, what: str = "time") -> datetime:
    """Instants from callers must be aware: a naive one has no single meaning here."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} has no UTC offset; pass an aware datetime")
    return value.astimezone(UTC)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    aware = local.replace(tzinfo=zone, fold=0)  # fold=0: the first occurrence
    first = aware.astimezone(UTC)
    if first.astimezone(zone).utcoffset() == aware.utcoffset():
        return first
    return _after_gap(local.replace(fold=0), zone)  # read with the wrong offset: a gap


def _after_gap(local: datetime, zone: ZoneInfo) -> datetime:
    """Bisect for the transition: before it the wall clock reads earlier than `local`,
    from it on later. (fold=1 reads a gap time with the offset after the jump, fold=0
    with the one before, which brackets the jump.)"""
    lo = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    hi = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if wall(mid, zone) < local:
            lo = mid
        else:
            hi = mid
    return hi


def config_instant(value: datetime, zone: ZoneInfo) -> datetime:
    """A config time: wall clock in the schedule's zone unless it carries an offset."""
    return to_utc(value, zone) if value.tzinfo is None else value.astimezone(UTC)


def since_midnight(clock: time) -> timedelta:
    """`time.max` is how the model spells "24:00": the end of the day, exactly."""
    if clock == time.max:
        return DAY
    return timedelta(
        hours=clock.hour, minutes=clock.minute, seconds=clock.second, microseconds=clock.microsecond
    )


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class DailyWindows:
    """A wall-clock window [begin, begin + length) on some weekdays, as instants. A
    window belongs to the day it starts on, even when it runs past midnight; windows of
    consecutive days that touch (24-hour windows) count as one."""

    zone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    begin: timedelta  # since local midnight, 0..24h
    length: timedelta  # wall-clock length, 0..24h
    memo: dict[date, Interval | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls, zone: ZoneInfo, days: frozenset[int], start: time, stop: time
    ) -> DailyWindows | None:
        """None when the windows cover all time (every day, 24 hours): the restriction
        is then no restriction, and chains of touching windows stay under a week."""
        begin, end = since_midnight(start), since_midnight(stop)
        length = end - begin if end > begin else end + DAY - begin
        if len(days) == 7 and length >= DAY:
            return None
        return cls(zone, days, begin, length)

    def on(self, day: date) -> Interval | None:
        if day.weekday() not in self.days:
            return None
        if day in self.memo:
            return self.memo[day]
        opens = midnight(day) + self.begin
        start, end = to_utc(opens, self.zone), to_utc(opens + self.length, self.zone)
        return remember(self.memo, day, (start, end) if end > start else None)

    def containing(self, t: datetime) -> Interval | None:
        today = local_date(t, self.zone)
        for offset in range(-_MARGIN_DAYS, _MARGIN_DAYS):
            day = today + offset * DAY
            window = self.on(day)
            if window is not None and window[0] <= t < window[1]:
                return self._joined(day, window)
        return None

    def _joined(self, day: date, window: Interval) -> Interval:
        start, end = window
        if self.length < DAY:
            return window
        back, ahead = day - DAY, day + DAY
        while (before := self.on(back)) is not None and before[1] == start:
            start, back = before[0], back - DAY
        while (after := self.on(ahead)) is not None and after[0] == end:
            end, ahead = after[1], ahead + DAY
        return start, end

    def next_from(self, t: datetime) -> datetime | None:
        """The first instant at or after t inside a window."""
        today = local_date(t, self.zone)
        for offset in range(-_MARGIN_DAYS, _SEARCH_DAYS):
            window = self.on(today + offset * DAY)
            if window is not None and window[1] > t:
                return max(window[0], t)
        return None

    def last_end_before(self, t: datetime) -> datetime | None:
        """The end of the last window that closed at or before t."""
        today = local_date(t, self.zone)
        for offset in range(_MARGIN_DAYS, -_SEARCH_DAYS, -1):
            window = self.on(today + offset * DAY)
            if window is not None and window[1] <= t:
                return window[1]
        return None

    def between(self, lo: datetime, hi: datetime) -> list[Interval]:
        """The (joined) windows overlapping [lo, hi), clipped to it."""
        first = local_date(lo, self.zone) - _MARGIN_DAYS * DAY
        last = local_date(hi, self.zone) + _MARGIN_DAYS * DAY
        out: list[Interval] = []
        day = first
        while day <= last:
            window = self.on(day)
            day += DAY
            if window is None or window[1] <= lo or window[0] >= hi:
                continue
            start, end = max(window[0], lo), min(window[1], hi)
            if out and out[-1][1] == start:
                start = out.pop()[0]
            out.append((start, end))
        return out

"""On-call math against a slow reference that walks shifts from `start` one by one.

Random schedules (1-3 layers, every rotation kind, restrictions, overrides) in zones
with and without DST, starts and handoffs crowded around the 2026 DST changes. The
explicit DST, restriction, override and fairness cases are in test_rotation_cases.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.oncall import DbOverride, Shift, final_shifts, gaps, layer_shifts, next_handoff
from bot.oncall import who_is_on_call as who
from bot.rules.model import DAYS, Layer, Restriction, Schedule

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata"]
NAMES = ["alice", "bob", "carol", "dave"]
DST_DAYS = [date(2026, m, d) for m, d in ((3, 8), (3, 29), (4, 5), (10, 4), (10, 25), (11, 1))]
DAY, MINUTE, TICK = timedelta(days=1), timedelta(minutes=1), timedelta(microseconds=1)
Who = tuple[str, int | None, str] | None
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- the reference


def wall(t: datetime, zone: ZoneInfo) -> datetime:
    return t.astimezone(zone).replace(tzinfo=None)


def ref_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """The spec, literally: the first instant whose wall clock reads `local`; if none
    does (a DST gap), the first instant whose wall clock reads later."""
    readings = [local.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)]
    exact = [u for u in readings if wall(u, zone) == local]
    if exact:
        return min(exact)
    u = min(readings).replace(second=0, microsecond=0) - timedelta(hours=1)
    while wall(u, zone) < local:
        u += MINUTE
    return u


def ref_instant(value: datetime, zone: ZoneInfo) -> datetime:
    return ref_utc(value, zone) if value.tzinfo is None else value.astimezone(UTC)


def clock(value: time) -> timedelta:
    return DAY if value == time.max else datetime.combine(date.min, value) - datetime.min


def ref_in_window(restrict: Restriction, zone: ZoneInfo, t: datetime) -> bool:
    begin, end = clock(restrict.from_), clock(restrict.to)
    if end <= begin:
        end += DAY
    today = wall(t, zone).date()
    for k in range(-3, 4):
        day = today + k * DAY
        if DAYS[day.weekday()] in restrict.days:
            midnight = datetime.combine(day, time())
            if ref_utc(midnight + begin, zone) <= t < ref_utc(midnight + end, zone):
                return True
    return False


def ref_handoffs(layer: Layer, zone: ZoneInfo, start: datetime) -> Iterator[datetime]:
    """Every wall-clock handoff after start, one calendar day at a time."""
    local = layer.start if layer.start.tzinfo is None else wall(start, zone)
    if layer.handoff:
        *weekday, hhmm = layer.handoff.split()
        at = clock(time.fromisoformat(hhmm))
        day_of_week = DAYS.index(weekday[0]) if weekday else None
    else:
        at, day_of_week = clock(local.time()), local.weekday()
    if layer.rotation == "daily":
        day_of_week = None
    day = local.date() - DAY
    while True:
        if day_of_week is None or day.weekday() == day_of_week:
            handoff = ref_utc(datetime.combine(day, time()) + at, zone)
            if handoff > start:
                yield handoff
        day += DAY


def ref_layer(layer: Layer, zone: ZoneInfo, t: datetime) -> str | None:
    start = ref_instant(layer.start, zone)
    if t < start or (layer.restrict and not ref_in_window(layer.restrict, zone, t)):
        return None
    shift = 0
    if layer.shift_length is not None:
        edge = start + layer.shift_length
        while edge <= t:
            shift, edge = shift + 1, edge + layer.shift_length
    else:
        for handoff in ref_handoffs(layer, zone, start):
            if handoff > t:
                break
            shift += 1
    return layer.members[shift % len(layer.members)]


def ref_on_call(schedule: Schedule, extra: list[DbOverride], t: datetime) -> Who:
    zone = ZoneInfo(schedule.timezone)
    overrides = [
        (f"overrides[{i}]", o.user, ref_instant(o.from_, zone), ref_instant(o.to, zone))
        for i, o in enumerate(schedule.overrides)
    ] + [(f"extra[{i}]", o.user, o.start, o.end) for i, o in enumerate(extra)]
    for name, user, start, end in reversed(overrides):
        if start <= t < end:
            return user, None, name
    for i in reversed(range(len(schedule.layers))):
        found = ref_layer(schedule.layers[i], zone, t)
        if found is not None:
            return found, i, f"layers[{i}]"
    return None


def ident(shift: Shift | None) -> Who:
    return None if shift is None else (shift.user, shift.layer, shift.source)


# ---------------------------------------------------------------- strategies

CLOCKS = st.one_of(
    st.sampled_from(["00:00", "01:30", "02:00", "02:30", "03:00", "03:30", "23:30"]),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30])),
)
DATES = st.one_of(
    st.builds(lambda d, k: d + k * DAY, st.sampled_from(DST_DAYS), st.integers(-9, 2)),
    st.dates(date(2025, 10, 1), date(2026, 12, 31)),
)
LOCAL = st.builds(lambda d, c: datetime.combine(d, time.fromisoformat(c)), DATES, CLOCKS)


@st.composite
def layers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["daily", "weekly", "custom"]))
    offset = draw(st.sampled_from(["", "", "", "", "+00:00", "-05:00"]))
    out: dict[str, Any] = {
        "rotation": kind,
        "start": draw(LOCAL).isoformat() + offset,
        "members": draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4)),
    }
    if kind == "custom":
        lengths = ["1h", "90m", "8h", "12h", "1d", "36h", "1w"]
        out["shift_length"] = draw(st.sampled_from(lengths))
    elif draw(st.booleans()):
        weekday = f"{draw(st.sampled_from(DAYS))} " if kind == "weekly" else ""
        out["handoff"] = weekday + draw(CLOCKS)
    if draw(st.booleans()):
        out["restrict"] = {
            "days": draw(st.lists(st.sampled_from(DAYS), unique=True, max_size=7)),
            "from": draw(CLOCKS),
            "to": draw(st.one_of(CLOCKS, st.just("24:00"))),
        }
    return out


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, str]:
    start = draw(LOCAL)
    length = draw(st.integers(30, 5 * 24 * 60)) * MINUTE
    return {
        "user": draw(st.sampled_from([*NAMES, "erin"])),
        "from": start.isoformat(),
        "to": (start + length).isoformat(),
    }


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Schedule, list[DbOverride]]:
    tz = draw(st.sampled_from(ZONES))
    schedule = Schedule.model_validate(
        {
            "timezone": tz,
            "layers": draw(st.lists(layers(), min_size=1, max_size=3)),
            "overrides": draw(st.lists(overrides(), max_size=3)),
        }
    )
    extra = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(LOCAL).replace(tzinfo=UTC)
        length = draw(st.integers(30, 3 * 24 * 60)) * MINUTE
        extra.append(DbOverride(draw(st.sampled_from([*NAMES, "frank"])), start, start + length))
    return schedule, extra


def instant(local: datetime, tz: str, minutes: int) -> datetime:
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC) + minutes * MINUTE


INSTANTS = st.lists(st.tuples(LOCAL, st.integers(-3 * 1440, 3 * 1440)), min_size=1, max_size=6)


# ---------------------------------------------------------------- properties


@PROPERTY
@given(schedules(), INSTANTS)
def test_who_is_on_call_equals_the_reference(
    drawn: tuple[Schedule, list[DbOverride]], points: list[tuple[datetime, int]]
) -> None:
    schedule, extra = drawn
    for local, minutes in points:
        t = instant(local, schedule.timezone, minutes)
        found = who(schedule, t, extra)
        assert ident(found) == ref_on_call(schedule, extra, t), t
        if found is not None:
            assert found.start <= t < found.end and found.start.tzinfo is UTC


def check_tiling(lo: datetime, hi: datetime, shifts: list[Shift], holes: list[Any]) -> None:
    pieces = sorted([(s.start, s.end) for s in shifts] + holes)
    assert pieces[0][0] == lo and pieces[-1][1] == hi
    for (_, end), (start, _) in pairwise(pieces):
        assert end == start  # neither overlap nor hole
    assert all(start < end for start, end in pieces)
    assert [s.start for s in shifts] == sorted(s.start for s in shifts)
    for a, b in pairwise(shifts):
        assert not (a.end == b.start and (a.user, a.source) == (b.user, b.source)), "unmerged"


@PROPERTY
@given(schedules(), LOCAL, st.integers(-2 * 1440, 2 * 1440), st.integers(1, 30 * 24))
def test_final_shifts_tile_the_range_and_agree_with_who(
    drawn: tuple[Schedule, list[DbOverride]], local: datetime, minutes: int, hours: int
) -> None:
    schedule, extra = drawn
    lo = instant(local, schedule.timezone, minutes)
    hi = lo + timedelta(hours=hours)
    shifts, holes = final_shifts(schedule, lo, hi, extra), gaps(schedule, lo, hi, extra)
    check_tiling(lo, hi, shifts, holes)
    for shift in shifts:
        for t in (shift.start, shift.start + (shift.end - shift.start) / 2, shift.end - TICK):
            found = who(schedule, t, extra)
            assert found is not None and ident(found) == ident(shift), t
            assert max(found.start, lo) >= shift.start and min(found.end, hi) <= shift.end
    for start, end in holes:
        assert who(schedule, start, extra) is None and who(schedule, end - TICK, extra) is None
    for shift in shifts[:6]:  # the reference is slow: the first few boundaries suffice
        assert ref_on_call(schedule, extra, shift.start) == ident(shift)
        assert ref_on_call(schedule, extra, shift.end - TICK) == ident(shift)


@PROPERTY
@given(schedules(), LOCAL, st.integers(1, 20 * 24))
def test_layer_shifts_follow_the_reference(
    drawn: tuple[Schedule, list[DbOverride]], local: datetime, hours: int
) -> None:
    schedule, _ = drawn
    zone = ZoneInfo(schedule.timezone)
    lo = instant(local, schedule.timezone, 0)
    hi = lo + timedelta(hours=hours)
    for index, layer in enumerate(schedule.layers):
        shifts = layer_shifts(schedule, index, lo, hi)
        cursor = lo
        for shift in shifts[:8]:
            assert cursor <= shift.start < shift.end <= hi
            if cursor < shift.start:  # a hole in this layer: transparent there
                assert ref_layer(layer, zone, cursor) is None
                assert ref_layer(layer, zone, shift.start - TICK) is None
            assert ref_layer(layer, zone, shift.start) == shift.user
            assert ref_layer(layer, zone, shift.end - TICK) == shift.user
            cursor = shift.end
        if len(shifts) <= 8 and cursor < hi:
            assert ref_layer(layer, zone, cursor) is None


@PROPERTY
@given(schedules(), LOCAL, st.integers(-2 * 1440, 2 * 1440))
def test_next_handoff_is_the_first_change_of_person(
    drawn: tuple[Schedule, list[DbOverride]], local: datetime, minutes: int
) -> None:
    schedule, extra = drawn
    t = instant(local, schedule.timezone, minutes)
    horizon = timedelta(days=20)
    holes = gaps(schedule, t, t + horizon, extra)
    shifts = final_shifts(schedule, t, t + horizon, extra)
    timeline = sorted([(h[0], None) for h in holes] + [(s.start, s.user) for s in shifts])
    first_user = timeline[0][1]
    expected = next((start for start, user in timeline if user != first_user), None)
    if expected is None:  # nothing changes inside the range; the range's end may
        after = who(schedule, t + horizon, extra)
        changed = (after.user if after else None) != first_user
        expected = t + horizon if changed else None
    assert next_handoff(schedule, t, extra, horizon=horizon) == expected

"""On-call math, case by case: DST in three hemispheres' worth of zones, restrictions,
layering, overrides, gaps, the example config, and fairness; every expected instant
worked out by hand (the properties against a reference are in test_rotation.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.oncall import (
    DbOverride,
    Fairness,
    Shift,
    final_shifts,
    gaps,
    hours_report,
    layer_on_call,
    layer_shifts,
    next_handoff,
    who_is_on_call,
)
from bot.oncall.localtime import to_utc
from bot.rules import load_rules
from bot.rules.model import Schedule

REPO = Path(__file__).resolve().parents[2]
H = timedelta(hours=1)


def sched(tz: str, *layers: dict[str, Any], overrides: Sequence[dict[str, str]] = ()) -> Schedule:
    return Schedule.model_validate(
        {"timezone": tz, "layers": list(layers), "overrides": list(overrides)}
    )


def at(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(t: datetime, tz: str) -> str:
    return t.astimezone(ZoneInfo(tz)).strftime("%a %H:%M")


def who(schedule: Schedule, t: datetime, extra: Any = ()) -> str | None:
    shift = who_is_on_call(schedule, t, extra)
    return None if shift is None else shift.user


def plan(shifts: list[Shift], tz: str) -> list[tuple[str, str, str]]:
    zone = ZoneInfo(tz)
    fmt = "%m-%d %H:%M"
    return [
        (s.user, f"{s.start.astimezone(zone):{fmt}}", f"{s.end.astimezone(zone):{fmt}}")
        for s in shifts
    ]


# (zone, the Sunday the clocks change, how many hours that day has)
CHANGES = [
    ("Europe/Berlin", (2026, 3, 29), 23),
    ("Europe/Berlin", (2026, 10, 25), 25),
    ("America/New_York", (2026, 3, 8), 23),
    ("America/New_York", (2026, 11, 1), 25),
    ("Australia/Sydney", (2026, 4, 5), 25),
    ("Australia/Sydney", (2026, 10, 4), 23),
]


@pytest.mark.parametrize(("tz", "day", "hours"), CHANGES)
def test_weekly_handoff_stays_monday_0900_across_dst(
    tz: str, day: tuple[int, int, int], hours: int
) -> None:
    sunday = datetime(*day)
    monday = sunday - timedelta(days=13, hours=-9)  # 09:00, two weeks before the change
    layer = {"rotation": "weekly", "start": monday.isoformat(), "handoff": "Mon 09:00"}
    schedule = sched(tz, layer | {"members": ["alice", "bob"]})
    start = at(tz, monday.year, monday.month, monday.day, 9)
    shifts = final_shifts(schedule, start, start + timedelta(weeks=4))
    assert [s.user for s in shifts] == ["alice", "bob", "alice", "bob"]
    assert {local(s.start, tz) for s in shifts} == {"Mon 09:00"}
    assert [s.duration // H for s in shifts] == [168, 168 + hours - 24, 168, 168]
    assert local(shifts[-1].end, tz) == "Mon 09:00"


@pytest.mark.parametrize(("tz", "day", "hours"), CHANGES)
def test_daily_handoff_stays_0800_across_dst(
    tz: str, day: tuple[int, int, int], hours: int
) -> None:
    saturday = datetime(*day) - timedelta(days=1)
    layer = {"rotation": "daily", "start": saturday.replace(hour=8).isoformat()}
    schedule = sched(tz, layer | {"handoff": "08:00", "members": ["alice", "bob"]})
    start = at(tz, saturday.year, saturday.month, saturday.day, 8)
    shifts = final_shifts(schedule, start, start + timedelta(days=3))
    assert [local(s.start, tz)[-5:] for s in shifts] == ["08:00"] * 3
    assert [s.duration // H for s in shifts] == [hours, 24, 24]
    assert [s.user for s in shifts] == ["alice", "bob", "alice"]


# A handoff at a wall-clock time that does not exist happens when the gap ends; one that
# happens twice happens the first time.
ODD_HANDOFFS = [
    ("Europe/Berlin", (2026, 3, 29), "02:30", utc(2026, 3, 29, 1, 0)),  # 03:00 CEST
    ("America/New_York", (2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 0)),  # 03:00 EDT
    ("Australia/Sydney", (2026, 10, 4), "02:30", utc(2026, 10, 3, 16, 0)),  # 03:00 AEDT
    ("Europe/Berlin", (2026, 10, 25), "02:30", utc(2026, 10, 25, 0, 30)),  # 02:30 CEST
    ("America/New_York", (2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30)),  # 01:30 EDT
    ("Australia/Sydney", (2026, 4, 5), "02:30", utc(2026, 4, 4, 15, 30)),  # 02:30 AEDT
]


@pytest.mark.parametrize(("tz", "day", "handoff", "expected"), ODD_HANDOFFS)
def test_handoff_in_a_gap_or_a_repeated_hour(
    tz: str, day: tuple[int, int, int], handoff: str, expected: datetime
) -> None:
    start = (datetime(*day) - timedelta(days=3)).isoformat()[:11] + handoff
    schedule = sched(
        tz, {"rotation": "daily", "start": start, "handoff": handoff, "members": ["a", "b", "c"]}
    )
    assert expected in [s.start for s in final_shifts(schedule, expected - 4 * H, expected + H)]
    before, after = (
        who_is_on_call(schedule, expected - timedelta(microseconds=1)),
        who(schedule, expected),
    )
    assert before is not None and before.end == expected and after != before.user
    assert next_handoff(schedule, expected - 3 * H) == expected


def test_first_shift_is_partial_and_handoff_defaults_to_start() -> None:
    layer = {"rotation": "weekly", "start": "2026-01-07T12:00", "members": ["a", "b"]}
    explicit = sched("UTC", layer | {"handoff": "Mon 09:00"})
    shifts = layer_shifts(explicit, 0, utc(2026, 1, 1), utc(2026, 1, 20))
    assert [(s.user, s.start, s.end) for s in shifts] == [
        ("a", utc(2026, 1, 7, 12), utc(2026, 1, 12, 9)),
        ("b", utc(2026, 1, 12, 9), utc(2026, 1, 19, 9)),
        ("a", utc(2026, 1, 19, 9), utc(2026, 1, 20)),
    ]
    implicit = layer_shifts(sched("UTC", layer), 0, utc(2026, 1, 1), utc(2026, 1, 22))
    assert [s.start.day for s in implicit] == [7, 14, 21]  # Wednesdays, 12:00
    assert {s.start.hour for s in implicit} == {12}
    midnight = sched("UTC", layer | {"rotation": "daily", "handoff": "24:00"})
    assert who_is_on_call(midnight, utc(2026, 1, 7, 13)) == Shift(
        "a", utc(2026, 1, 7, 12), utc(2026, 1, 8), 0, "layers[0]"
    )
    with pytest.raises(ValueError, match="handoff 'Mon 25:00'"):
        who_is_on_call(sched("UTC", layer | {"handoff": "Mon 25:00"}), utc(2026, 1, 8))


def test_berlin_gap_handoff_shortens_both_neighbouring_shifts() -> None:
    schedule = sched(
        "Europe/Berlin",
        {
            "rotation": "daily",
            "start": "2026-03-27T02:30",
            "handoff": "02:30",
            "members": ["a", "b"],
        },
    )
    shifts = layer_shifts(schedule, 0, utc(2026, 3, 27, 1, 30), utc(2026, 4, 1))
    assert [s.duration / H for s in shifts[:4]] == [24, 23.5, 23.5, 24]


def test_custom_12h_rotation_drifts_an_hour_against_the_wall_clock() -> None:
    """Elapsed time, not wall clock: 08:00/20:00 CET become 09:00/21:00 CEST."""
    tz = "Europe/Berlin"
    schedule = sched(
        tz,
        {
            "rotation": "custom",
            "shift_length": "12h",
            "handoff": "08:00",
            "start": "2026-03-27T08:00",
            "members": ["dave", "erin"],
        },
    )
    shifts = final_shifts(schedule, at(tz, 2026, 3, 27, 8), at(tz, 2026, 3, 31, 9))
    assert {s.duration for s in shifts} == {12 * H}
    starts = [local(s.start, tz) for s in shifts]
    assert starts[:5] == ["Fri 08:00", "Fri 20:00", "Sat 08:00", "Sat 20:00", "Sun 09:00"]
    assert starts[-1] == "Mon 21:00" and shifts[4].user == "dave"


def test_weekend_layer_over_a_weekly_one() -> None:
    base = {"rotation": "weekly", "start": "2026-01-05T00:00", "members": ["alice"]}
    weekend = {
        "rotation": "daily",
        "start": "2026-01-03T00:00",
        "members": ["bob", "carol"],
        "restrict": {"days": ["Sat", "Sun"]},
    }
    shifts = final_shifts(sched("UTC", base, weekend), utc(2026, 1, 5), utc(2026, 1, 19))
    assert plan(shifts, "UTC") == [
        ("alice", "01-05 00:00", "01-10 00:00"),
        ("carol", "01-10 00:00", "01-11 00:00"),  # shift 7 of [bob, carol]
        ("bob", "01-11 00:00", "01-12 00:00"),
        ("alice", "01-12 00:00", "01-17 00:00"),
        ("bob", "01-17 00:00", "01-18 00:00"),
        ("carol", "01-18 00:00", "01-19 00:00"),
    ]
    assert [s.layer for s in shifts] == [0, 1, 1, 0, 1, 1]


def test_business_hours_leave_reported_gaps() -> None:
    tz = "Europe/Berlin"
    layer = {
        "rotation": "weekly",
        "start": "2026-03-23T09:00",
        "members": ["alice"],
        "restrict": {"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "from": "09:00", "to": "17:00"},
    }
    schedule = sched(tz, layer)
    start, end = at(tz, 2026, 3, 23), at(tz, 2026, 3, 30)
    shifts = final_shifts(schedule, start, end)
    assert [(local(s.start, tz), s.duration) for s in shifts] == [
        (f"{d} 09:00", 8 * H) for d in ("Mon", "Tue", "Wed", "Thu", "Fri")
    ]
    holes = gaps(schedule, start, end)
    assert holes[0] == (start, at(tz, 2026, 3, 23, 9)) and len(holes) == 6
    assert holes[-1] == (at(tz, 2026, 3, 27, 17), end)
    assert holes[-1][1] - holes[-1][0] == (2 * 24 + 7 - 1) * H  # the weekend lost an hour
    assert who(schedule, at(tz, 2026, 3, 24, 8, 59)) is None
    assert next_handoff(schedule, at(tz, 2026, 3, 24, 12)) == at(tz, 2026, 3, 24, 17)


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    layer = {
        "rotation": "daily",
        "start": "2026-01-01T12:00",
        "members": ["alice"],
        "restrict": {"days": ["Fri", "Sun"], "from": "22:00", "to": "06:00"},
    }
    schedule = sched("UTC", layer)
    assert who(schedule, utc(2026, 1, 9, 21, 59)) is None  # Friday evening
    assert who(schedule, utc(2026, 1, 9, 22)) == "alice"
    assert who(schedule, utc(2026, 1, 10, 5, 59)) == "alice"  # Saturday: Friday's night
    assert who(schedule, utc(2026, 1, 10, 23)) is None  # Saturday's night: not listed
    assert who(schedule, utc(2026, 1, 12, 3)) == "alice"  # Monday: Sunday's night
    assert who(schedule, utc(2026, 1, 12, 22)) is None
    pieces = layer_shifts(schedule, 0, utc(2026, 1, 9), utc(2026, 1, 13))
    assert [(p.start, p.end) for p in pieces] == [
        (utc(2026, 1, 9, 22), utc(2026, 1, 10, 6)),
        (utc(2026, 1, 11, 22), utc(2026, 1, 12, 6)),
    ]


def test_window_over_a_dst_night_and_a_24_hour_window() -> None:
    tz = "Europe/Berlin"
    night = {
        "rotation": "weekly",
        "start": "2026-03-02T09:00",
        "members": ["alice"],
        "restrict": {"days": ["Sat"], "from": "22:00", "to": "06:00"},
    }
    spring = layer_shifts(sched(tz, night), 0, at(tz, 2026, 3, 28), at(tz, 2026, 3, 30))
    autumn = layer_shifts(sched(tz, night), 0, at(tz, 2026, 10, 24), at(tz, 2026, 10, 26))
    assert [s.duration for s in spring + autumn] == [7 * H, 9 * H]
    whole = night | {"restrict": {"days": ["Mon"], "from": "08:00", "to": "08:00"}}
    pieces = layer_shifts(sched(tz, whole), 0, at(tz, 2026, 3, 16), at(tz, 2026, 3, 20))
    assert plan(pieces, tz) == [  # Monday 08:00 to Tuesday 08:00, cut by the 09:00 handoff
        ("alice", "03-16 08:00", "03-16 09:00"),
        ("alice", "03-16 09:00", "03-17 08:00"),
    ]


WEEKLY = {
    "rotation": "weekly",
    "start": "2026-01-05T09:00",
    "handoff": "Mon 09:00",
    "members": ["alice", "bob"],
}


def test_override_spanning_a_handoff() -> None:
    tz = "Europe/Berlin"
    cover = {"user": "carol", "from": "2026-01-11T18:00", "to": "2026-01-13T09:00"}
    schedule = sched(tz, WEEKLY, overrides=[cover])
    shifts = final_shifts(schedule, at(tz, 2026, 1, 5, 9), at(tz, 2026, 1, 19, 9))
    assert plan(shifts, tz) == [
        ("alice", "01-05 09:00", "01-11 18:00"),
        ("carol", "01-11 18:00", "01-13 09:00"),
        ("bob", "01-13 09:00", "01-19 09:00"),
    ]
    assert [s.layer for s in shifts] == [0, None, 0]
    assert shifts[1].source == "overrides[0]"
    current = who_is_on_call(schedule, at(tz, 2026, 1, 7, 12))
    assert current is not None and current.end == at(tz, 2026, 1, 11, 18)  # cut by carol
    assert who_is_on_call(schedule, at(tz, 2026, 1, 14)) == Shift(
        "bob", at(tz, 2026, 1, 13, 9), at(tz, 2026, 1, 19, 9), 0, "layers[0]"
    )


def test_later_override_wins_and_extra_overrides_win_over_yaml() -> None:
    tz = "Europe/Berlin"
    carol = {"user": "carol", "from": "2026-01-06T00:00", "to": "2026-01-08T00:00"}
    dave = {"user": "dave", "from": "2026-01-07T00:00", "to": "2026-01-07T12:00"}
    window = at(tz, 2026, 1, 6), at(tz, 2026, 1, 8)
    shifts = final_shifts(sched(tz, WEEKLY, overrides=[carol, dave]), *window)
    assert [s.user for s in shifts] == ["carol", "dave", "carol"]
    reversed_ = final_shifts(sched(tz, WEEKLY, overrides=[dave, carol]), *window)
    assert plan(reversed_, tz) == [("carol", "01-06 00:00", "01-08 00:00")]
    stored = DbOverride("erin", utc(2026, 1, 6, 11), utc(2026, 1, 6, 12))  # 12:00 Berlin
    schedule = sched(tz, WEEKLY, overrides=[carol])
    assert who(schedule, at(tz, 2026, 1, 6, 12, 30), [stored]) == "erin"
    assert who(schedule, at(tz, 2026, 1, 6, 13), [stored]) == "carol"
    assert who_is_on_call(schedule, at(tz, 2026, 1, 6, 12), [stored]) == Shift(
        "erin", stored.start, stored.end, None, "extra[0]"
    )
    offset = {"user": "dave", "from": "2026-01-09T10:00+00:00", "to": "2026-01-09T11:00Z"}
    assert who(sched(tz, WEEKLY, overrides=[offset]), at(tz, 2026, 1, 9, 11, 30)) == "dave"


def test_naive_instants_are_refused() -> None:
    schedule = sched("UTC", WEEKLY)
    with pytest.raises(ValueError, match="no UTC offset"):
        who_is_on_call(schedule, datetime(2026, 1, 6))
    with pytest.raises(ValueError, match="override start"):
        who_is_on_call(
            schedule, utc(2026, 1, 6), [DbOverride("x", datetime(2026, 1, 6), utc(2026, 1, 7))]
        )


def test_example_config_by_hand() -> None:
    rules = load_rules(REPO)
    primary, secondary = rules.schedules["payments-primary"], rules.schedules["payments-secondary"]
    platform, tz = rules.schedules["platform-primary"], "Europe/Berlin"
    expected = [
        (at(tz, 2026, 1, 4, 10), "bob"),  # weekend layer started 3 Jan; weekly not yet
        (at(tz, 2026, 1, 4, 21), None),  # nobody: a gap, reported
        (at(tz, 2026, 1, 7, 12), "alice"),  # week 0
        (at(tz, 2026, 1, 10, 10), "bob"),  # Saturday daytime: the weekend layer
        (at(tz, 2026, 1, 10, 21), "alice"),  # Saturday evening: week 0 shows through
        (at(tz, 2026, 1, 19, 10), "carol"),  # week 2
        (at(tz, 2026, 3, 30, 8, 59), "carol"),  # week 11, just before the first CEST handoff
        (at(tz, 2026, 3, 30, 9), "alice"),  # week 12 begins at 09:00 CEST
    ]
    assert [(t, who(primary, t)) for t, _ in expected] == expected
    assert (
        who(secondary, at(tz, 2026, 1, 7)) is None
        and who(secondary, at(tz, 2026, 1, 12, 9)) == "alice"
    )
    assert gaps(primary, at(tz, 2026, 1, 1), at(tz, 2026, 1, 5, 12)) == [
        (at(tz, 2026, 1, 1), at(tz, 2026, 1, 3, 8)),
        (at(tz, 2026, 1, 3, 20), at(tz, 2026, 1, 4, 8)),
        (at(tz, 2026, 1, 4, 20), at(tz, 2026, 1, 5, 9)),
    ]
    assert next_handoff(primary, at(tz, 2026, 1, 7, 12)) == at(tz, 2026, 1, 10, 8)
    # Bob's week and his weekend shifts are one stretch of bob: no handoff until carol.
    assert next_handoff(primary, at(tz, 2026, 1, 16, 12)) == at(tz, 2026, 1, 19, 9)
    # London 12h custom from Mon 5 Jan 08:00 GMT: on 1 April at 08:30 BST (07:30 UTC)
    # 2063.5 h have passed, shift 171: erin's, though 08:00 local "should" be dave's.
    assert (
        who(platform, utc(2026, 1, 5, 8)) == "dave" and who(platform, utc(2026, 1, 5, 20)) == "erin"
    )
    assert who(platform, at("Europe/London", 2026, 4, 1, 8, 30)) == "erin"
    assert who(platform, at("Europe/London", 2026, 4, 1, 9)) == "dave"
    layer = layer_on_call(primary, 1, at(tz, 2026, 1, 7, 12))
    assert layer is None  # the weekend layer is transparent on a Wednesday


def test_next_handoff_none_for_a_one_person_layer() -> None:
    schedule = sched("UTC", {"rotation": "daily", "start": "2026-01-01T00:00", "members": ["a"]})
    assert next_handoff(schedule, utc(2026, 2, 1)) is None
    assert final_shifts(schedule, utc(2026, 2, 1), utc(2026, 3, 1)) == [
        Shift("a", utc(2026, 2, 1), utc(2026, 3, 1), 0, "layers[0]")
    ]
    assert len(layer_shifts(schedule, 0, utc(2026, 2, 1), utc(2026, 3, 1))) == 28


def test_fairness_over_a_month_with_two_dst_changes() -> None:
    """Berlin weekly handoff, alice in Berlin, bob in New York (EDT from 8 March)."""
    tz = "Europe/Berlin"
    schedule = sched(
        tz,
        {
            "rotation": "weekly",
            "start": "2026-03-02T09:00",
            "handoff": "Mon 09:00",
            "members": ["alice", "bob"],
        },
    )
    zones = {"alice": tz, "bob": "America/New_York"}
    report = hours_report(schedule, at(tz, 2026, 3, 2, 9), at(tz, 2026, 3, 30, 9), zones)
    # alice: 2 full weeks, 7 Berlin nights of 9h each, both weekends whole.
    assert report["alice"] == Fairness(336 * H, 126 * H, 96 * H, 2)
    # bob: 168h + 167h (29 March); his weeks run 04:00 EDT to 04:00 (03:00 at the end):
    # nights 3 + 6*9 + 6 = 63 and 3 + 6*9 + 5 = 62.
    assert report["bob"] == Fairness(335 * H, 125 * H, 96 * H, 2)
    assert report["bob"].hours == 335.0 and report["alice"].night_hours == 126.0


def test_fairness_counts_a_25_hour_day() -> None:
    tz = "Europe/Berlin"
    schedule = sched(
        tz,
        {"rotation": "daily", "start": "2026-10-01T00:00", "members": ["alice"]},
        overrides=[{"user": "zoe", "from": "2026-10-26T00:00", "to": "2026-10-26T01:00"}],
    )
    report = hours_report(schedule, at(tz, 2026, 10, 24), at(tz, 2026, 10, 26, 1), {"alice": tz})
    # 7h (Sat 00-07) + 10h (Sat 22:00 to Sun 07:00, clocks back at 03:00) + 2h (Sun 22-24)
    assert report["alice"] == Fairness(49 * H, 19 * H, 49 * H, 1)
    # zoe has no zone: UTC, where her hour is Sunday 23:00-24:00, night and weekend.
    assert report["zoe"] == Fairness(H, H, H, 1)


def test_who_is_on_call_computes_rather_than_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty years after start costs what the first day does: a few wall-clock
    conversions per layer, not one per shift."""
    calls = 0

    def counting(value: datetime, zone: ZoneInfo) -> datetime:
        nonlocal calls
        calls += 1
        return to_utc(value, zone)

    monkeypatch.setattr("bot.oncall.layers.to_utc", counting)
    daily = {"rotation": "daily", "start": "2016-03-01T08:00", "members": ["a", "b", "c"]}
    weekend = WEEKLY | {"start": "2016-03-07T09:00", "restrict": {"days": ["Sat"]}}
    schedule = sched("America/New_York", daily, weekend)
    tuesday = at("America/New_York", 2036, 7, 1, 12)
    assert who(schedule, tuesday) == "c"  # handoff 7426 after the first: shift 7427
    assert who(schedule, tuesday + timedelta(days=4)) == "alice"  # week 1060: even
    assert calls < 40

"""Which shift change is the latest, as the handoff digest sees it; nights on a person's
own clock for the fairness report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.oncall.handoff import latest_handoff
from bot.oncall.report import PageRecord, at_night, load_report
from bot.oncall.rotation import DbOverride
from bot.rules.model import RulesConfig, Schedule


def daily(**extra: object) -> Schedule:
    return Schedule.model_validate(
        {
            "timezone": "Europe/Berlin",
            "layers": [
                {
                    "rotation": "daily",
                    "start": "2026-03-20T09:00",
                    "handoff": "09:00",
                    "members": ["alice", "bob"],
                    **extra,
                }
            ],
        }
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_latest_handoff_within_the_lookback() -> None:
    # 2026-03-29: Berlin springs forward; 09:00 local is 07:00 UTC from that day.
    point = latest_handoff(daily(), utc(2026, 3, 29, 7, 30))
    assert point is not None
    assert (point.at, point.outgoing, point.incoming) == (utc(2026, 3, 29, 7), "alice", "bob")
    assert point.previous_start == utc(2026, 3, 28, 8)  # 09:00 CET the day before
    assert point.shift_end == utc(2026, 3, 30, 7)


def test_no_handoff_when_it_is_older_than_the_lookback() -> None:
    assert latest_handoff(daily(), utc(2026, 3, 29, 19, 1)) is None
    assert latest_handoff(daily(), utc(2026, 3, 29, 19, 1), lookback=timedelta(hours=13))


def test_override_by_the_same_person_is_no_handoff_but_by_another_is() -> None:
    schedule = daily()
    own = [DbOverride("bob", utc(2026, 3, 29, 10), utc(2026, 3, 29, 12))]
    point = latest_handoff(schedule, utc(2026, 3, 29, 10, 30), own)
    assert point is not None and point.at == utc(2026, 3, 29, 7)
    other = [DbOverride("carol", utc(2026, 3, 29, 10), utc(2026, 3, 29, 12))]
    point = latest_handoff(schedule, utc(2026, 3, 29, 10, 30), other)
    assert point is not None
    assert (point.at, point.outgoing, point.incoming) == (utc(2026, 3, 29, 10), "bob", "carol")
    assert point.shift_end == utc(2026, 3, 29, 12)


def test_shift_after_a_gap_has_no_outgoing_person() -> None:
    schedule = daily(restrict={"days": ["Mon", "Tue", "Wed", "Thu", "Fri"]})
    point = latest_handoff(schedule, utc(2026, 3, 23, 0, 30))  # Monday 01:30 in Berlin
    assert point is not None
    assert (point.at, point.outgoing) == (utc(2026, 3, 22, 23), None)
    assert point.previous_start == utc(2026, 3, 20, 23)  # the weekend gap began
    assert latest_handoff(schedule, utc(2026, 3, 22, 12)) is None  # nobody on call


def test_night_is_read_on_the_persons_own_clock() -> None:
    assert at_night(utc(2026, 1, 10, 21, 30), "Europe/Berlin")  # 22:30 in Berlin
    assert not at_night(utc(2026, 1, 10, 21, 30), "UTC")
    assert at_night(utc(2026, 1, 10, 11, 30), "America/New_York")  # 06:30
    assert not at_night(utc(2026, 1, 10, 12, 0), "America/New_York")  # 07:00


def test_report_counts_pages_of_the_schedule_asked_for() -> None:
    rules = RulesConfig.model_validate(
        {
            "teams": {"ops": {"members": {"alice": {"tz": "Europe/Berlin"}, "bob": {}}}},
            "schedules": {"s": daily().model_dump(by_alias=True)},
        }
    )
    pages = [
        PageRecord(utc(2026, 3, 25, 22), ("alice",), "schedule:s"),  # 23:00 Berlin
        PageRecord(utc(2026, 3, 25, 12), ("alice", "bob"), "team:ops"),
        PageRecord(utc(2026, 4, 2, 12), ("alice",), "schedule:s"),  # after the range
    ]
    start, end = utc(2026, 3, 23), utc(2026, 3, 30)
    mine = load_report(rules, start, end, stored={}, pages=pages, schedules=["s"])
    assert (mine["alice"].pages, mine["alice"].night_pages, mine["bob"].pages) == (1, 1, 0)
    every = load_report(rules, start, end, stored={}, pages=pages)
    assert (every["alice"].pages, every["bob"].pages, every["bob"].night_pages) == (2, 1, 0)
    assert mine["alice"].on_call + mine["bob"].on_call == end - start

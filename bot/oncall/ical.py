"""A schedule's final shifts as an iCalendar feed, for people's own calendars.

Times are UTC (every client converts them); each event's UID is made of the schedule,
the shift start and the person, so a calendar that polls the feed updates rather than
duplicates, and a changed shift (an override added) replaces the old event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from icalendar import Calendar, Event

from bot.oncall.localtime import as_utc
from bot.oncall.rotation import DbOverride, Shift, final_shifts
from bot.rules.model import Schedule

BACK = timedelta(days=7)
AHEAD_DAYS = 90
MAX_DAYS = 366
# Shifts are fetched this much beyond the window so that one crossing its edge is shown
# whole, not clipped (a clipped start would move on every poll).
_MARGIN = timedelta(days=31)


def window_shifts(
    schedule: Schedule,
    now: datetime,
    days: int = AHEAD_DAYS,
    stored: Sequence[DbOverride] = (),
) -> list[Shift]:
    now = as_utc(now, "now")
    lo, hi = now - BACK, now + timedelta(days=days)
    shifts = final_shifts(schedule, lo - _MARGIN, hi + _MARGIN, stored)
    return [s for s in shifts if s.end > lo and s.start < hi]


def _stamp(t: datetime) -> str:
    return f"{as_utc(t):%Y%m%dT%H%M%SZ}"


def render(name: str, schedule: Schedule, shifts: Sequence[Shift], now: datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Pagerbot//on-call//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"On call: {name}")
    cal.add("x-wr-timezone", schedule.timezone)
    for shift in shifts:
        event = Event()
        event.add("uid", f"{name}-{_stamp(shift.start)}-{shift.user}@pagerbot")
        event.add("dtstamp", as_utc(now))
        event.add("dtstart", as_utc(shift.start))
        event.add("dtend", as_utc(shift.end))
        event.add("summary", f"On call: {shift.user} ({name})")
        origin = "override" if shift.layer is None else f"layer {shift.layer}"
        event.add("description", f"{shift.user} is on call for {name} ({origin}).")
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)
    return bytes(cal.to_ical())

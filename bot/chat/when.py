"""Times typed in chat: `now`, `18:00`, `2026-12-24`, `2026-12-24T18:00`, durations.
Without an offset a time is wall clock in the schedule's zone, as in the config."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.chat.context import UsageError
from bot.durations import parse_duration
from bot.oncall.localtime import to_utc

MAX_WINDOW = timedelta(days=90)


def duration(token: str) -> timedelta:
    try:
        value = parse_duration(token)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if value <= timedelta(0):
        raise UsageError(f"the duration must be positive, not {token!r}")
    return value


def is_duration(token: str) -> bool:
    try:
        return parse_duration(token) > timedelta(0)
    except ValueError:
        return False


def parse_instant(token: str, zone: ZoneInfo, now: datetime) -> datetime:
    """`now`, `18:00` (the next 18:00 there), `2026-12-24`, `2026-12-24T18:00[+01:00]`."""
    if token.lower() == "now":
        return now
    if re.fullmatch(r"\d{1,2}:\d{2}", token):
        try:
            clock = time.fromisoformat(token.zfill(5))
        except ValueError:
            raise UsageError(f"not a time of day: {token!r}") from None
        day = now.astimezone(zone).date()
        at = to_utc(datetime.combine(day, clock), zone)
        # A minute of grace: "18:00" typed at 18:00:30 means now, not tomorrow.
        if at < now - timedelta(minutes=1):
            at = to_utc(datetime.combine(day + timedelta(days=1), clock), zone)
        return at
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
            return to_utc(datetime.combine(date.fromisoformat(token), time()), zone)
        value = datetime.fromisoformat(token)
    except ValueError:
        raise UsageError(
            f"not a time: {token!r} (write now, 18:00, 2026-12-24 or 2026-12-24T18:00)"
        ) from None
    return to_utc(value, zone) if value.tzinfo is None else value


def parse_window(
    window: tuple[str, str], zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """`<from> <to>|<duration>` → (start, end), aware instants, end after start."""
    start = parse_instant(window[0], zone, now)
    if is_duration(window[1]):
        end = start + duration(window[1])
    else:
        end = parse_instant(window[1], zone, start)
    if end <= start:
        raise UsageError(f"{window[1]!r} is not after {window[0]!r}")
    if end - start > MAX_WINDOW:
        raise UsageError("at most 90 days at once")
    if end <= now:
        raise UsageError("that time is already over")
    return start, end

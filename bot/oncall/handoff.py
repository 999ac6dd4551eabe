"""Shift changes as the incoming person sees them: which handoff is the latest, and the
digest they get (open incidents, silences ending during the shift, flapping alerts,
the last shift's pages). Pure: the store gathers the facts, this finds and words them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.oncall.localtime import as_utc
from bot.oncall.rotation import DbOverride, final_shifts, next_handoff, who_is_on_call
from bot.rules.model import Schedule

# How far back a missed handoff still gets its digest (the bot was down at the change).
LOOKBACK = timedelta(hours=12)
# How far back the outgoing person's shift is followed, for "last shift's pages".
_PREVIOUS_LIMIT = timedelta(days=31)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class HandoffPoint:
    at: datetime
    outgoing: str | None  # None: the shift began after a gap
    incoming: str
    previous_start: datetime  # where the outgoing shift (or the gap) began, at most 31 days
    shift_end: datetime | None  # the incoming person's next handoff, if within a year


def _run_start(schedule: Schedule, at: datetime, stored: Sequence[DbOverride]) -> datetime:
    """Where the person on call just before `at` (or the gap there) began."""
    lo = at - _PREVIOUS_LIMIT
    shifts = final_shifts(schedule, lo, at, stored)
    if not shifts or shifts[-1].end < at:
        return shifts[-1].end if shifts else lo  # a gap ran up to `at`
    user, start = shifts[-1].user, shifts[-1].start
    for shift in reversed(shifts[:-1]):
        if shift.end != start or shift.user != user:
            break
        start = shift.start
    return start


def latest_handoff(
    schedule: Schedule,
    now: datetime,
    stored: Sequence[DbOverride] = (),
    lookback: timedelta = LOOKBACK,
) -> HandoffPoint | None:
    """The change that put the current person on call, if it happened within `lookback`;
    a change to the same person (layer to own override) is no handoff."""
    now = as_utc(now, "now")
    current = who_is_on_call(schedule, now, stored)
    if current is None:
        return None
    at = _run_start(schedule, now + _TICK, stored)
    if at < now - lookback:
        return None
    before = who_is_on_call(schedule, at - _TICK, stored)
    return HandoffPoint(
        at=at,
        outgoing=before.user if before is not None else None,
        incoming=current.user,
        previous_start=_run_start(schedule, at, stored),
        shift_end=next_handoff(schedule, now, stored),
    )


@dataclass(frozen=True, slots=True)
class DigestIncident:
    number: int
    title: str
    state: str
    flaps: int


@dataclass(frozen=True, slots=True)
class DigestSilence:
    what: str
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class DigestPage:
    at: datetime
    number: int
    users: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    schedule: str
    timezone: str
    point: HandoffPoint
    open_incidents: list[DigestIncident]
    expiring_silences: list[DigestSilence]
    flapping: list[DigestIncident]
    last_pages: list[DigestPage]
    ack_within: timedelta | None

    def text(self) -> str:
        """Plain text: the Notifier escapes it for the chat."""
        zone = ZoneInfo(self.timezone)

        def when(t: datetime) -> str:
            return f"{t.astimezone(zone):%a %d %b %H:%M}"

        until = f" until {when(self.point.shift_end)}" if self.point.shift_end else ""
        frm = f" from {self.point.outgoing}" if self.point.outgoing else ""
        lines = [
            f"You are on call for {self.schedule}{until} ({self.timezone}); "
            f"handoff{frm} at {when(self.point.at)}."
        ]
        lines.append(f"Open incidents: {len(self.open_incidents) or 'none'}")
        lines += [f"  • INC-{i.number} [{i.state}] {i.title}" for i in self.open_incidents]
        lines.append(f"Silences ending during your shift: {len(self.expiring_silences) or 'none'}")
        lines += [f"  • {s.what}, ends {when(s.ends_at)}" for s in self.expiring_silences]
        lines.append(f"Flapping: {len(self.flapping) or 'none'}")
        lines += [f"  • INC-{i.number} {i.title} ({i.flaps}x)" for i in self.flapping]
        count = sum(len(p.users) for p in self.last_pages)
        lines.append(f"Pages in the last shift: {count or 'none'}")
        lines += [
            f"  • {when(p.at)} INC-{p.number} → {', '.join(p.users)}" for p in self.last_pages
        ]
        if self.ack_within is not None:
            minutes = int(self.ack_within.total_seconds() // 60)
            back = f"{self.point.outgoing} and the team" if self.point.outgoing else "the team"
            lines.append(
                f"Accept it within {minutes}m (`pagerbot oncall accept {self.schedule}`), "
                f"or it goes to {back}."
            )
        return "\n".join(lines)

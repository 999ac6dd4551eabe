"""Durations as incident reviews write them: to the second, largest two units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime

    @property
    def delta(self) -> timedelta:
        return self.end - self.start

    @property
    def seconds(self) -> int:
        return int(self.delta.total_seconds())


def human(delta: timedelta) -> str:
    """`45s`, `2m 05s`, `1h 02m`, `3d 04h`; negative spans read as `0s`."""
    total = max(0, int(delta.total_seconds()))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")

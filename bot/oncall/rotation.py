"""Who is on call: a schedule's layers and overrides resolved into one coverage.

Pure arithmetic: every function takes its instants as arguments (aware datetimes; a
naive one is refused rather than guessed) and returns aware UTC datetimes. The rules,
beyond the obvious, as an on-call engineer would expect them:

- Wall clock. Times in the schedule without an offset are wall clock in its `timezone`.
  A wall-clock time that does not exist (spring forward) means the first instant after
  the gap: Berlin 02:30 on 29 March 2026 is 03:00 CEST. One that happens twice (fall
  back) means its first occurrence. This holds for starts, handoffs, restriction
  windows and overrides alike.
- Daily and weekly layers hand off at the wall-clock `handoff` (default: the time, and
  for weekly the weekday, of `start`), so 09:00 stays 09:00 local and the shift over a
  DST change lasts 23 or 25 hours (167 or 169 for a week). Shift 0 runs from `start` to
  the first handoff strictly after it and may be short.
- Custom layers (`shift_length`) count elapsed time from `start`: a 12h rotation that
  hands off at 08:00 and 20:00 in winter hands off at 09:00 and 21:00 after the spring
  change. `handoff` is informational there (it should name start's time).
- `restrict` covers, on the listed days, the wall-clock window [from, to); a `to` at or
  before `from` runs past midnight and belongs to the day it started (so `to == from`
  is 24 hours). Outside it the layer is transparent. A shift cut by the restriction
  keeps its user; touching windows (Sat 00:00-24:00 and Sun) make one piece.
- Priority, lowest first: layers in order, the schedule's `overrides` in order, then
  the caller's extra overrides (stored at run time, newest intent) in order. The
  highest source that covers an instant wins; lower ones show through elsewhere.
- Nobody covering is a gap: `who_is_on_call` says None, `gaps` lists it.
- The Shift `who_is_on_call` returns is the winner's piece: its own shift (within its
  restriction window, or the override), cut where a higher source starts or stops
  covering. `final_shifts` and `layer_shifts` clip to the asked range; `final_shifts`
  also merges touching pieces of the same user from the same source, so a one-person
  layer is one long shift. `layer_shifts` keeps each rotation shift separate.
- `next_handoff` is the next instant the person on call changes (to or from nobody
  included): a handoff from alice to alice, or from her layer shift to her own
  override, is no handoff. None when nothing changes within `horizon`.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import pairwise
from zoneinfo import ZoneInfo

from bot.oncall.layers import LayerSource, OverrideSource, Source
from bot.oncall.localtime import as_utc, config_instant
from bot.rules.model import Override, Schedule


@dataclass(frozen=True, slots=True)
class Shift:
    user: str
    start: datetime
    end: datetime
    layer: int | None  # None for an override
    source: str  # "layers[0]", "overrides[2]" (the schedule's), "extra[1]" (the caller's)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class DbOverride:
    """An override stored at run time (aware datetimes), beside the YAML ones."""

    user: str
    start: datetime
    end: datetime


AnyOverride = Override | DbOverride


@dataclass(frozen=True, slots=True)
class _Ranked:
    source: Source
    layer: int | None
    name: str

    def shift(self, user: str, start: datetime, end: datetime) -> Shift:
        return Shift(user, start, end, self.layer, self.name)


def _override(override: AnyOverride, zone: ZoneInfo) -> OverrideSource:
    if isinstance(override, Override):
        start, end = config_instant(override.from_, zone), config_instant(override.to, zone)
    else:
        start, end = as_utc(override.start, "override start"), as_utc(override.end, "override end")
    return OverrideSource(override.user, start, end)


def _overrides(named: Iterable[tuple[str, AnyOverride]], zone: ZoneInfo) -> list[_Ranked]:
    out = []
    for name, override in named:
        source = _override(override, zone)
        if source.start < source.end:  # both ends in one DST gap: nothing to cover
            out.append(_Ranked(source, None, name))
    return out


# Compiled schedules by id, dropped with the schedule: a page asks about the same frozen
# schedule many times, and compiling (first handoffs, overrides) costs more than asking.
_COMPILED: dict[int, tuple[weakref.ref[Schedule], tuple[_Ranked, ...]]] = {}


def _forget(key: int, ref: weakref.ref[Schedule]) -> None:
    entry = _COMPILED.get(key)
    if entry is not None and entry[0] is ref:
        del _COMPILED[key]


def _compiled(schedule: Schedule) -> tuple[_Ranked, ...]:
    key = id(schedule)
    entry = _COMPILED.get(key)
    if entry is not None and entry[0]() is schedule:
        return entry[1]
    zone = ZoneInfo(schedule.timezone)
    out = [
        _Ranked(LayerSource.of(layer, zone), i, f"layers[{i}]")
        for i, layer in enumerate(schedule.layers)
    ]
    out += _overrides(((f"overrides[{i}]", o) for i, o in enumerate(schedule.overrides)), zone)
    _COMPILED[key] = (weakref.ref(schedule, partial(_forget, key)), tuple(out))
    return _COMPILED[key][1]


def _sources(schedule: Schedule, extra: Iterable[AnyOverride]) -> Sequence[_Ranked]:
    """Lowest priority first."""
    named = [(f"extra[{i}]", o) for i, o in enumerate(extra)]
    if not named:
        return _compiled(schedule)
    return (*_compiled(schedule), *_overrides(named, ZoneInfo(schedule.timezone)))


@dataclass(frozen=True, slots=True)
class _Span:
    """What holds around an instant: the winner's piece, or a gap (None ends: unbounded)."""

    shift: Shift | None
    start: datetime | None
    end: datetime | None

    @property
    def user(self) -> str | None:
        return None if self.shift is None else self.shift.user


def _resolve(sources: Sequence[_Ranked], t: datetime) -> _Span:
    """Constant work per source: the winner is the highest source covering t; its piece
    ends where any higher source starts covering, and starts where one stopped."""
    for rank in range(len(sources) - 1, -1, -1):
        piece = sources[rank].source.segment(t)
        if piece is not None:
            higher = [r.source for r in sources[rank + 1 :]]
            start = max([piece.start, *_present(h.last_end(t) for h in higher)])
            end = min([piece.end, *_present(h.next_cover(t) for h in higher)])
            return _Span(sources[rank].shift(piece.user, start, end), start, end)
    ends = _present(r.source.last_end(t) for r in sources)
    starts = _present(r.source.next_cover(t) for r in sources)
    return _Span(None, max(ends, default=None), min(starts, default=None))


def _present(values: Iterable[datetime | None]) -> list[datetime]:
    return [v for v in values if v is not None]


def who_is_on_call(
    schedule: Schedule, at: datetime, extra_overrides: Iterable[AnyOverride] = ()
) -> Shift | None:
    """O(layers + overrides): shift numbers are computed, never walked to."""
    return _resolve(_sources(schedule, extra_overrides), as_utc(at, "at")).shift


def layer_on_call(schedule: Schedule, layer_index: int, at: datetime) -> Shift | None:
    """One layer on its own, as if nothing were above it (for per-layer displays)."""
    source = LayerSource.of(schedule.layers[layer_index], ZoneInfo(schedule.timezone))
    piece = source.segment(as_utc(at, "at"))
    if piece is None:
        return None
    return Shift(piece.user, piece.start, piece.end, layer_index, f"layers[{layer_index}]")


def layer_shifts(
    schedule: Schedule, layer_index: int, start: datetime, end: datetime
) -> list[Shift]:
    zone = ZoneInfo(schedule.timezone)
    source = LayerSource.of(schedule.layers[layer_index], zone)
    name = f"layers[{layer_index}]"
    pieces = source.pieces(as_utc(start, "start"), as_utc(end, "end"))
    return [Shift(p.user, p.start, p.end, layer_index, name) for p in pieces]


def final_shifts(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    extra_overrides: Iterable[AnyOverride] = (),
) -> list[Shift]:
    """A sweep over every source's pieces, highest rank on top: independent of
    `who_is_on_call`'s arithmetic, which the tests play against it."""
    lo, hi = as_utc(start, "start"), as_utc(end, "end")
    sources = _sources(schedule, extra_overrides)
    items = sorted(
        (piece.start, -rank, piece.end, piece.user)
        for rank, ranked in enumerate(sources)
        for piece in ranked.source.pieces(lo, hi)
    )
    return [sources[run.rank].shift(run.user, run.start, run.end) for run in _sweep(items)]


@dataclass(slots=True)
class _Run:
    start: datetime
    end: datetime
    rank: int
    user: str


def _sweep(items: list[tuple[datetime, int, datetime, str]]) -> list[_Run]:
    """Items are (start, -rank, end, user), sorted; the result is the top item's runs
    between consecutive boundaries, touching runs of one source and user merged."""
    bounds = sorted({t for item in items for t in (item[0], item[2])})
    active: list[tuple[int, datetime, str]] = []  # (-rank, end, user); expired ones lazily
    runs: list[_Run] = []
    j = 0
    for begin, finish in pairwise(bounds):
        while j < len(items) and items[j][0] <= begin:
            heapq.heappush(active, (items[j][1], items[j][2], items[j][3]))
            j += 1
        while active and active[0][1] <= begin:
            heapq.heappop(active)
        if not active:
            continue
        negated_rank, _, user = active[0]
        last = runs[-1] if runs else None
        if last and last.end == begin and last.rank == -negated_rank and last.user == user:
            last.end = finish
        else:
            runs.append(_Run(begin, finish, -negated_rank, user))
    return runs


def gaps(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    extra_overrides: Iterable[AnyOverride] = (),
) -> list[tuple[datetime, datetime]]:
    """Where nobody is on call: pages there would reach no one."""
    cursor, hi = as_utc(start, "start"), as_utc(end, "end")
    out: list[tuple[datetime, datetime]] = []
    for shift in final_shifts(schedule, cursor, hi, extra_overrides):
        if shift.start > cursor:
            out.append((cursor, shift.start))
        cursor = shift.end
    if cursor < hi:
        out.append((cursor, hi))
    return out


def next_handoff(
    schedule: Schedule,
    at: datetime,
    extra_overrides: Iterable[AnyOverride] = (),
    horizon: timedelta = timedelta(days=366),
) -> datetime | None:
    """Hops from piece to piece (each hop constant work), skipping changes that keep
    the same person; gives up after `horizon`, since a one-person layer never hands off."""
    sources = _sources(schedule, extra_overrides)
    t = as_utc(at, "at")
    limit = t + horizon
    span = _resolve(sources, t)
    user = span.user
    while span.end is not None and span.end <= limit:
        boundary = span.end
        span = _resolve(sources, boundary)
        if span.user != user:
            return boundary
    return None

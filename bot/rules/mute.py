"""Is an alert muted, and by what? Silences, maintenance windows and inhibition.

Pure: the caller passes the instant and the current silences; inhibition keeps an
index of firing source alerts that the caller feeds. Muted alerts are still stored
and shown; muting only decides whether anyone is told.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from bot.rules.matchers import Matcher, Op, compile_regex, matches_all
from bot.rules.model import DAYS, MaintenanceWindow, RulesConfig


@dataclass(frozen=True, slots=True)
class Mute:
    ref: str  # stored with the alert: "silence:12", "maintenance:backups", "inhibited:<fp>"
    text: str  # what the timeline says


@dataclass(frozen=True, slots=True)
class SilenceRule:
    ref: str  # "silence:12" (stored) or "silence:rules/x.yaml#0" (YAML)
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    owner: str
    reason: str

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    @property
    def mute(self) -> Mute:
        return Mute(
            self.ref,
            f"silenced by {self.ref} ({self.owner}: {self.reason}) "
            f"until {self.ends_at:%Y-%m-%d %H:%M}Z",
        )


def localize(value: datetime, tz: str) -> datetime:
    """A config time: wall-clock in `tz` unless it carries its own offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)


def _in_range(t: time, start: time, end: time) -> bool:
    return start <= t < end if end > start else False


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    matchers: tuple[Matcher, ...]
    zone: ZoneInfo
    start: datetime | None
    end: datetime | None
    days: frozenset[int]
    daily_from: time | None
    daily_to: time | None

    @classmethod
    def of(cls, index: int, window: MaintenanceWindow) -> Window:
        zone = ZoneInfo(window.timezone)
        every = window.every
        return cls(
            name=window.name or f"maintenance_windows[{index}]",
            matchers=window.compiled(),
            zone=zone,
            start=localize(window.from_, window.timezone) if window.from_ else None,
            end=localize(window.to, window.timezone) if window.to else None,
            days=frozenset(DAYS.index(d) for d in every.days) if every else frozenset(),
            daily_from=every.from_ if every else None,
            daily_to=every.to if every else None,
        )

    def active(self, now: datetime) -> bool:
        """One-off: [from, to). Recurring: wall-clock [from, to) on the listed days, in the
        window's zone (so 02:00-04:00 stays 02:00-04:00 local across DST); a `to` at or
        before `from` runs past midnight into the next day."""
        if self.start is not None and now < self.start:
            return False
        if self.end is not None and now >= self.end:
            return False
        if self.daily_from is None or self.daily_to is None:
            return True
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        today, yesterday = local.weekday(), (local.weekday() - 1) % 7
        if self.daily_to > self.daily_from:
            return today in self.days and _in_range(clock, self.daily_from, self.daily_to)
        return (today in self.days and clock >= self.daily_from) or (
            yesterday in self.days and clock < self.daily_to
        )

    @property
    def mute(self) -> Mute:
        return Mute(f"maintenance:{self.name}", f"in maintenance window {self.name}")


@dataclass(slots=True)
class _InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    # equal-label values → fingerprint → labels of firing source alerts
    firing: dict[tuple[str, ...], dict[str, dict[str, str]]] = field(default_factory=dict)

    def key(self, labels: dict[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


class Inhibitor:
    """Alertmanager's inhibition: a firing source alert mutes target alerts whose `equal`
    labels have the same values; an alert matching both sides is not muted by another
    that does too."""

    def __init__(self, config: RulesConfig) -> None:
        self.rules = []
        for rule in config.inhibit_rules:
            source, target = rule.sides()
            self.rules.append(_InhibitRule(source.compiled(), target.compiled(), tuple(rule.equal)))
        self._journal: list[tuple[str, dict[str, str], bool]] | None = None

    def is_source(self, labels: dict[str, str]) -> bool:
        return any(matches_all(rule.source, labels) for rule in self.rules)

    def begin_rebuild(self) -> None:
        """Start refilling from the store page by page; what ingest observes meanwhile is
        kept, so a source that resolves mid-read is not left muting its targets."""
        self._journal = []

    def abandon_rebuild(self) -> None:
        self._journal = None

    def finish_rebuild(self, sources: Iterable[tuple[str, dict[str, str]]]) -> bool:
        """Replace the index with the stored firing sources plus what ingest observed
        since `begin_rebuild`; True when the result differs from the index before."""
        journal, self._journal = self._journal or [], None
        before = self._sources()
        self.reset()
        for fingerprint, labels in sources:
            self.observe(fingerprint, labels, True)
        for fingerprint, labels, firing in journal:
            self.observe(fingerprint, labels, firing)
        return self._sources() != before

    def _sources(self) -> list[dict[tuple[str, ...], set[str]]]:
        """Per rule, the fingerprints of firing sources under each `equal` key."""
        return [{key: set(fps) for key, fps in rule.firing.items() if fps} for rule in self.rules]

    def observe(self, fingerprint: str, labels: dict[str, str], firing: bool) -> bool:
        """Record a source alert's state; True when the index changed."""
        if self._journal is not None:
            self._journal.append((fingerprint, labels, firing))
        changed = False
        for rule in self.rules:
            if not matches_all(rule.source, labels):
                continue
            bucket = rule.firing.setdefault(rule.key(labels), {})
            if firing:
                changed |= fingerprint not in bucket
                bucket[fingerprint] = labels
            else:
                changed |= bucket.pop(fingerprint, None) is not None
        return changed

    def reset(self) -> None:
        for rule in self.rules:
            rule.firing.clear()

    @property
    def firing(self) -> bool:
        """Whether any source alert fires, so that something may be inhibited."""
        return any(bucket for rule in self.rules for bucket in rule.firing.values())

    def mutes(self, fingerprint: str, labels: dict[str, str]) -> Mute | None:
        for rule in self.rules:
            if not matches_all(rule.target, labels):
                continue
            both = matches_all(rule.source, labels)
            for fp, source in rule.firing.get(rule.key(labels), {}).items():
                if fp == fingerprint or (both and matches_all(rule.target, source)):
                    continue
                name = source.get("alertname", fp)
                return Mute(f"inhibited:{fp}", f"inhibited by firing {name} ({fp})")
        return None


# Group references change meaning once patterns are joined (groups renumber).
_NUMBERED = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


class SilenceIndex:
    """Silences bucketed by one equality matcher, so 10,000 silences cost a few lookups.

    Silences with only regex matchers are grouped by the label of one positive regex,
    and each group's regexes are joined into one alternation: one C-level match rules
    out the whole group for most alerts.
    """

    def __init__(self, silences: Iterable[SilenceRule]) -> None:
        self.by_pair: dict[tuple[str, str], list[SilenceRule]] = {}
        self.by_regex: dict[str, tuple[re.Pattern[str], list[SilenceRule]]] = {}
        self.scan: list[SilenceRule] = []
        self.all: list[SilenceRule] = []
        grouped: dict[str, list[tuple[str, SilenceRule]]] = {}
        for silence in silences:
            self.all.append(silence)
            eq = [m for m in silence.matchers if m.op is Op.EQ and m.value]
            regex = [m for m in silence.matchers if m.op is Op.RE]
            if eq:
                pick = next((m for m in eq if m.name == "alertname"), eq[0])
                self.by_pair.setdefault((pick.name, pick.value), []).append(silence)
            elif regex and not _NUMBERED.search(regex[0].value):
                grouped.setdefault(regex[0].name, []).append((regex[0].value, silence))
            else:
                self.scan.append(silence)
        for name, members in grouped.items():
            joined = "|".join(f"(?:{pattern})" for pattern, _ in members)
            try:
                self.by_regex[name] = (compile_regex(joined), [s for _, s in members])
            except (re.error, OverflowError, RecursionError):  # e.g. inline flags
                self.scan.extend(s for _, s in members)

    def match(self, labels: dict[str, str], now: datetime) -> SilenceRule | None:
        if self.by_pair:
            for pair in labels.items():
                for silence in self.by_pair.get(pair, ()):
                    if silence.active(now) and matches_all(silence.matchers, labels):
                        return silence
        for name, (joined, members) in self.by_regex.items():
            if joined.fullmatch(labels.get(name, "")) is None:
                continue
            for silence in members:
                if silence.active(now) and matches_all(silence.matchers, labels):
                    return silence
        for silence in self.scan:
            if silence.active(now) and matches_all(silence.matchers, labels):
                return silence
        return None

    def next_change(self, now: datetime) -> datetime | None:
        upcoming = [t for s in self.all for t in (s.starts_at, s.ends_at) if t > now]
        return min(upcoming, default=None)


class Muter:
    def __init__(self, config: RulesConfig, silences: Iterable[SilenceRule] = ()) -> None:
        static = [
            SilenceRule(
                ref=f"silence:rules#{i}",
                matchers=s.compiled(),
                starts_at=localize(s.starts, s.timezone)
                if s.starts
                else datetime.min.replace(tzinfo=UTC),
                ends_at=localize(s.ends, s.timezone),
                owner=s.owner,
                reason=s.reason,
            )
            for i, s in enumerate(config.silences)
        ]
        self.silences = SilenceIndex([*static, *silences])
        self.windows = [Window.of(i, w) for i, w in enumerate(config.maintenance_windows)]
        self.inhibitor = Inhibitor(config)

    def with_silences(self, silences: Iterable[SilenceRule]) -> Muter:
        """A copy with other run-time silences, sharing the inhibition index."""
        other = object.__new__(Muter)
        static = [s for s in self.silences.all if s.ref.startswith("silence:rules#")]
        other.silences = SilenceIndex([*static, *silences])
        other.windows = self.windows
        other.inhibitor = self.inhibitor
        return other

    @property
    def idle(self) -> bool:
        return not (self.silences.all or self.windows or self.inhibitor.rules)

    def mutes_nothing(self, now: datetime) -> bool:
        """No silence or window is active and no inhibition source fires: no alert is
        muted now, whatever its labels."""
        return not (
            any(s.active(now) for s in self.silences.all)
            or any(w.active(now) for w in self.windows)
            or self.inhibitor.firing
        )

    def mute(self, fingerprint: str, labels: dict[str, str], now: datetime) -> Mute | None:
        """Silence first (a person decided), then maintenance, then inhibition."""
        silence = self.silences.match(labels, now)
        if silence is not None:
            return silence.mute
        for window in self.windows:
            if matches_all(window.matchers, labels) and window.active(now):
                return window.mute
        return self.inhibitor.mutes(fingerprint, labels)

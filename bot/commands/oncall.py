"""`pagerbot oncall [SCHEDULE] [--at T]`, `oncall report --from --to`, `oncall accept`.

The first word may name a schedule or a subcommand; the subcommand wins, so a schedule
literally named `report` or `accept` is asked for with `--schedule report` (and
`pagerbot check` says so)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.commands.store_access import database_exists, opened
from bot.config import Config, load_config
from bot.escalation.handoffs import Accepted, accept_handoff
from bot.escalation.targets import overrides_between, pages_between
from bot.oncall.report import PageRecord, PersonLoad, load_report
from bot.oncall.rotation import DbOverride
from bot.oncall.status import ScheduleStatus, status
from bot.settings import Settings
from bot.store import StoreUnavailable

SUBCOMMANDS = ("report", "accept")
_YEAR = timedelta(days=366)


def parse_time(text: str, what: str) -> datetime:
    """ISO 8601; without an offset it is UTC (as `pagerbot route --at`)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} {text!r}: write ISO 8601, like 2026-11-20T09:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _names(config: Config, wanted: str | None) -> list[str]:
    if wanted is None:
        return sorted(config.rules.schedules)
    if wanted not in config.rules.schedules:
        known = ", ".join(sorted(config.rules.schedules)) or "none configured"
        raise ValueError(f"no schedule named {wanted!r} (schedules: {known})")
    return [wanted]


async def _stored(
    settings: Settings, start: datetime, end: datetime, with_pages: bool
) -> tuple[dict[str, list[DbOverride]], list[PageRecord]]:
    """Overrides (and pages) from the database; none when there is no database yet."""
    if not database_exists(settings):
        return {}, []
    async with opened(settings) as store:
        stored = await store.read(lambda s: overrides_between(s, start, end))
        pages = await store.read(lambda s: pages_between(s, start, end)) if with_pages else []
    return stored, pages


async def run(settings: Settings, args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    if words and words[0] in SUBCOMMANDS:
        action, rest = words[0], words[1:]
    else:
        action, rest = "who", words
    if len(rest) > 1 or (rest and args.schedule is not None):
        raise ValueError(f"one schedule at a time (got {' '.join(rest)})")
    schedule = args.schedule or (rest[0] if rest else None)
    config = load_config(settings.config_dir)
    if action == "report":
        return await report(settings, config, args, schedule)
    if action == "accept":
        if schedule is None:
            raise ValueError("accept which schedule? `pagerbot oncall accept SCHEDULE`")
        return await accept(settings, config, schedule, args.user or getpass.getuser())
    at = parse_time(args.at, "--at") if args.at else datetime.now(UTC)
    return await who(settings, config, schedule, at, as_json=args.json)


async def who(
    settings: Settings, config: Config, schedule: str | None, at: datetime, *, as_json: bool
) -> int:
    names = _names(config, schedule)
    try:
        stored, _ = await _stored(settings, at - _YEAR, at + _YEAR, with_pages=False)
        note = None
    except StoreUnavailable as exc:
        stored, note = {}, f"database overrides not shown: {exc}"
    found = [status(n, config.rules.schedules[n], at, stored.get(n, ())) for n in names]
    if note:
        print(f"pagerbot oncall: {note}", file=sys.stderr)
    if as_json:
        print(json.dumps({"at": _iso(at), "schedules": [s.to_json() for s in found]}, indent=2))
    else:
        print("\n\n".join(_text(s) for s in found) or "no schedules configured")
    return 0


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(s: ScheduleStatus) -> str:
    zone = ZoneInfo(s.timezone)

    def when(t: datetime) -> str:
        return f"{t.astimezone(zone):%a %Y-%m-%d %H:%M}"

    lines = [f"{s.name} ({s.timezone}) at {when(s.at)}"]
    if s.on_call is None:
        lines.append("  on call: NOBODY (gap in coverage)")
    else:
        origin = "override" if s.on_call.layer is None else f"layer {s.on_call.layer}"
        lines.append(
            f"  on call: {s.on_call.user} ({origin}, {when(s.on_call.start)} → "
            f"{when(s.on_call.end)})"
        )
    for i, (rotation, shift) in enumerate(s.layers):
        held = f"{shift.user} ({when(shift.start)} → {when(shift.end)})" if shift else "-"
        lines.append(f"  layer {i} ({rotation}): {held}")
    for o in s.overrides:
        source = "database" if o.stored else "yaml"
        lines.append(f"  override: {o.user} {when(o.start)} → {when(o.end)} [{source}]")
    lines.append(f"  next handoff: {when(s.next_handoff) if s.next_handoff else 'none in a year'}")
    if s.gaps:
        lines += [f"  GAP: nobody {when(a)} → {when(b)}" for a, b in s.gaps]
    else:
        lines.append("  gaps in the next 14 days: none")
    return "\n".join(lines)


async def report(
    settings: Settings, config: Config, args: argparse.Namespace, schedule: str | None
) -> int:
    if not args.start or not args.end:
        raise ValueError("report needs --from and --to (ISO 8601)")
    start, end = parse_time(args.start, "--from"), parse_time(args.end, "--to")
    if end <= start:
        raise ValueError("--to must be after --from")
    names = _names(config, schedule)
    stored, pages = await _stored(settings, start, end, with_pages=True)
    loads = load_report(
        config.rules,
        start,
        end,
        stored=stored,
        pages=pages,
        schedules=None if schedule is None else names,
    )
    if args.json:
        body = {
            "from": _iso(start),
            "to": _iso(end),
            "schedules": names,
            "people": {u: p.to_json() for u, p in loads.items()},
        }
        print(json.dumps(body, indent=2))
        return 0
    print(_report_text(start, end, schedule, loads))
    return 0


def _report_text(
    start: datetime, end: datetime, schedule: str | None, loads: Mapping[str, PersonLoad]
) -> str:
    scope = f"schedule {schedule}" if schedule else "all schedules"
    head = f"{'person':<16}{'hours':>8}{'night':>8}{'weekend':>9}{'shifts':>8}{'pages':>7}"
    lines = [f"on-call load {_iso(start)} → {_iso(end)} ({scope})", head + f"{'night pages':>13}"]
    for user, p in loads.items():
        j = p.to_json()
        lines.append(
            f"{user:<16}{j['hours']:>8.1f}{j['night_hours']:>8.1f}{j['weekend_hours']:>9.1f}"
            f"{p.shifts:>8}{p.pages:>7}{p.night_pages:>13}"
        )
    lines.append("night = 22:00-07:00 and weekend = Sat-Sun, on each person's own clock (tz)")
    return "\n".join(lines)


async def accept(settings: Settings, config: Config, schedule: str, user: str) -> int:
    _names(config, schedule)
    async with opened(settings) as store:
        result = await accept_handoff(store, schedule=schedule, user=user)
    print(result.text, file=sys.stdout if result.outcome == Accepted.DONE else sys.stderr)
    return {Accepted.DONE: 0, Accepted.ALREADY: 0}.get(result.outcome, 1)

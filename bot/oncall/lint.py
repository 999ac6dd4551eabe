"""Coverage lint for `pagerbot check`: what a valid schedule can still get wrong.

Errors would let a page reach nobody (a gap, no Slack id, someone outside the team the
schedule serves); warnings are allowed but worth saying (an override for someone who
is in no layer, a schedule whose name clashes with an `oncall` subcommand).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.oncall.rotation import gaps
from bot.rules.model import RulesConfig
from bot.rules.router import Router

HORIZON = timedelta(days=90)
SUBCOMMANDS = frozenset({"report", "accept"})


@dataclass(frozen=True, slots=True)
class Finding:
    loc: tuple[Any, ...]
    message: str
    warning: bool = False


def schedule_teams(rules: RulesConfig, router: Router) -> dict[str, set[str]]:
    """The teams each schedule pages for: routes name a team and an escalation policy,
    and the policy's steps name the schedules."""
    out: dict[str, set[str]] = {}
    decisions = [router.default, *(node.decision for node in router.walk())]
    for decision in decisions:
        policy = rules.escalation_policies.get(decision.escalation or "")
        if policy is None or decision.team is None or decision.notify_only:
            continue
        for step in policy.steps:
            kind, name = step.target
            if kind == "schedule":
                out.setdefault(name, set()).add(decision.team)
    return out


def lint(
    rules: RulesConfig, router: Router, now: datetime, horizon: timedelta = HORIZON
) -> list[Finding]:
    teams = schedule_teams(rules, router)
    out: list[Finding] = []
    for name in rules.schedules:
        out.extend(_schedule(rules, name, teams.get(name, set()), now, horizon))
    return out


def _schedule(
    rules: RulesConfig, name: str, teams: set[str], now: datetime, horizon: timedelta
) -> Iterator[Finding]:
    schedule = rules.schedules[name]
    users = rules.users()
    here = ("schedules", name)
    if name in SUBCOMMANDS:
        yield Finding(
            here,
            f"`pagerbot oncall {name}` runs the {name} subcommand; ask for this schedule "
            f"with `pagerbot oncall --schedule {name}`",
            warning=True,
        )
    found = gaps(schedule, now, now + horizon)
    if found:
        zone = ZoneInfo(schedule.timezone)
        total = sum((end - start for start, end in found), timedelta(0))
        start, end = found[0]
        yield Finding(
            (*here, "layers"),
            f"nobody is on call for {_hours(total)} in the next {horizon.days} days "
            f"({len(found)} gap{'s' if len(found) != 1 else ''}; first "
            f"{_local(start, zone)} to {_local(end, zone)} {schedule.timezone}): pages "
            "would reach no one; add a layer or widen a restriction",
        )
    members = {m for layer in schedule.layers for m in layer.members}
    team_members = {m for t in teams if t in rules.teams for m in rules.teams[t].members}
    for i, layer in enumerate(schedule.layers):
        for j, member in enumerate(layer.members):
            loc = (*here, "layers", i, "members", j)
            if teams and member not in team_members:
                yield Finding(
                    loc,
                    f"{member!r} is not in team {', '.join(sorted(teams))}, which this "
                    "schedule pages for",
                )
            person = users.get(member)
            if person is not None and not person.slack:
                yield Finding(loc, f"{member!r} has no Slack id: a page could not reach them")
    for i, override in enumerate(schedule.overrides):
        if override.user not in members:
            yield Finding(
                (*here, "overrides", i, "user"),
                f"{override.user!r} is in no layer of this schedule (allowed: check it is meant)",
                warning=True,
            )


def _hours(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours:.0f}h" if hours >= 1 else f"{span.total_seconds() / 60:.0f}m"


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")

"""Checks across sections: every name a rule uses must exist, and no route can be dead."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from bot.rules.model import Route, RouteSettings, RulesConfig

Loc = tuple[Any, ...]


def check_rules(config: RulesConfig, runbooks: set[str]) -> Iterator[tuple[Loc, str]]:
    users = config.users()
    yield from _duplicate_users(config)
    yield from _route_refs(("defaults",), config.defaults, config, runbooks)
    yield from _routes(config.routes, ("routes",), config, runbooks)
    for name, policy in config.escalation_policies.items():
        for i, step in enumerate(policy.steps):
            kind, target = step.target
            kinds: dict[str, dict[str, Any]] = {
                "schedule": config.schedules,
                "team": config.teams,
                "user": users,
            }
            known = kinds[kind]
            if target not in known:
                yield (
                    ("escalation_policies", name, "steps", i, "notify"),
                    f"no {kind} named {target!r}{_hint(target, known)}",
                )
    for name, schedule in config.schedules.items():
        for i, layer in enumerate(schedule.layers):
            for j, member in enumerate(layer.members):
                if member not in users:
                    yield (
                        ("schedules", name, "layers", i, "members", j),
                        f"{member!r} is not a member of any team{_hint(member, users)}",
                    )
        for i, override in enumerate(schedule.overrides):
            if override.user not in users:
                yield (
                    ("schedules", name, "overrides", i, "user"),
                    f"{override.user!r} is not a member of any team",
                )
    for i, silence in enumerate(config.silences):
        if silence.owner not in users:
            yield (("silences", i, "owner"), f"{silence.owner!r} is not a member of any team")


def check_approvers(approvers: list[str], config: RulesConfig) -> Iterator[tuple[int, str]]:
    known: dict[str, dict[str, Any]] = {
        "team": config.teams,
        "user": config.users(),
        "oncall": config.schedules,
    }
    for i, approver in enumerate(approvers):
        kind, _, name = approver.partition(":")
        if name not in known[kind]:
            label = "schedule" if kind == "oncall" else kind
            yield i, f"no {label} named {name!r}"


def _duplicate_users(config: RulesConfig) -> Iterator[tuple[Loc, str]]:
    seen: dict[str, tuple[str, str | None]] = {}
    for team_name, team in config.teams.items():
        for user, member in team.members.items():
            if user in seen and seen[user][1] != member.slack:
                yield (
                    ("teams", team_name, "members", user),
                    f"{user!r} has Slack id {member.slack!r} here but {seen[user][1]!r} in "
                    f"team {seen[user][0]!r}: one person, one id",
                )
            seen.setdefault(user, (team_name, member.slack))


def _route_refs(
    loc: Loc, route: RouteSettings, config: RulesConfig, runbooks: set[str]
) -> Iterator[tuple[Loc, str]]:
    if route.team is not None and route.team not in config.teams:
        yield (*loc, "team"), f"no team named {route.team!r}{_hint(route.team, config.teams)}"
    if route.escalation is not None and route.escalation not in config.escalation_policies:
        yield (
            (*loc, "escalation"),
            f"no escalation policy named {route.escalation!r}"
            f"{_hint(route.escalation, config.escalation_policies)}",
        )
    if route.runbook is not None and route.runbook not in runbooks:
        yield (*loc, "runbook"), f"no runbook named {route.runbook!r} in runbooks/"


def _routes(
    routes: list[Route], loc: Loc, config: RulesConfig, runbooks: set[str]
) -> Iterator[tuple[Loc, str]]:
    seen: dict[str, int] = {}
    catch_all: int | None = None
    for i, route in enumerate(routes):
        here = (*loc, i)
        yield from _route_refs(here, route, config, runbooks)
        text = ",".join(sorted({str(m) for m in route.compiled()}))  # order does not matter
        if catch_all is not None:
            yield (
                here,
                (
                    f"never matched: {_field((*loc, catch_all))} before it matches every "
                    "alert and does not continue"
                ),
            )
        elif text in seen:
            yield (
                here,
                (
                    f"never matched: {_field((*loc, seen[text]))} has the same matchers "
                    "and does not continue"
                ),
            )
        if not route.continue_:
            seen.setdefault(text, i)
            if not route.compiled() and catch_all is None:
                catch_all = i
        yield from _routes(route.routes, (*here, "routes"), config, runbooks)


def _field(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _hint(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

"""Which route an alert takes, and so which incident it groups into.

Alertmanager's semantics exactly: depth-first; among siblings the first match wins
unless it says `continue: true`; a route whose children all miss takes the alert
itself; children inherit what they leave unset; `defaults` is the root.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from bot.rules.matchers import Matcher, Op, matches_all, render
from bot.rules.model import ALL_LABELS, Route, RouteSettings, RulesConfig

ROOT_ID = "{}"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route_id: str
    group_by: tuple[str, ...]
    team: str | None
    escalation: str | None
    channel: str | None
    notify_only: bool
    flap_window: timedelta
    runbook: str | None = None
    severity_map: tuple[tuple[str, str], ...] = ()

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if self.group_by == (ALL_LABELS,):
            return dict(labels)
        return {name: labels.get(name, "") for name in self.group_by}

    def group_key(self, labels: dict[str, str]) -> str:
        """Stable for the group's life: the route plus its group_by values, like Alertmanager."""
        names = sorted(labels) if self.group_by == (ALL_LABELS,) else _sorted(self.group_by)
        get = labels.get
        return self.route_id + ":{" + ",".join([f'{k}="{_quote(get(k, ""))}"' for k in names]) + "}"

    def severity(self, labels: dict[str, str]) -> str:
        raw = labels.get("severity", "")
        mapped = dict(self.severity_map).get(raw)
        return mapped or raw or "unknown"


@functools.cache
def _sorted(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))


def _quote(value: str) -> str:
    # Printable and NUL-free: PostgreSQL text cannot hold NUL, and keys show up in logs.
    if "\\" not in value and '"' not in value and "\n" not in value and "\x00" not in value:
        return value  # the common case, without four scans and copies
    return (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\x00", "\\x00")
    )


@dataclass(frozen=True, slots=True)
class RouteNode:
    id: str
    matchers: tuple[Matcher, ...]
    decision: RouteDecision
    children: Siblings
    continue_: bool
    location: tuple[str | int, ...]  # where in the config, e.g. ("routes", 0, "routes", 1)


_INDEX_FROM = 8  # below this many siblings a plain scan is faster than the index


class Siblings:
    """Routes at one level, in order. With many of them, an index on one equality matcher
    per route narrows the candidates (a route whose `team="x"` differs cannot match), and
    the candidates are still tried in order, so first-match semantics hold."""

    __slots__ = ("by_value", "nodes", "scan")

    def __init__(self, nodes: list[RouteNode]) -> None:
        self.nodes = tuple(nodes)
        self.by_value: dict[str, dict[str, list[int]]] = {}
        self.scan: list[int] = []
        if len(nodes) < _INDEX_FROM:
            self.scan = list(range(len(nodes)))
            return
        counts: dict[str, int] = {}
        for node in nodes:
            for m in node.matchers:
                if m.op is Op.EQ:
                    counts[m.name] = counts.get(m.name, 0) + 1
        for i, node in enumerate(nodes):
            eq = [m for m in node.matchers if m.op is Op.EQ]
            if not eq:
                self.scan.append(i)
                continue
            best = max(eq, key=lambda m: counts[m.name])
            self.by_value.setdefault(best.name, {}).setdefault(best.value, []).append(i)

    def candidates(self, labels: dict[str, str]) -> list[RouteNode]:
        if not self.by_value:
            return [self.nodes[i] for i in self.scan]
        found = list(self.scan)
        for name, values in self.by_value.items():
            found.extend(values.get(labels.get(name, ""), ()))
        found.sort()
        return [self.nodes[i] for i in found]

    def __iter__(self) -> Iterator[RouteNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)


def _inherit(
    parent: RouteDecision, route: RouteSettings, route_id: str, channels: dict[str, str]
) -> RouteDecision:
    team = route.team if route.team is not None else parent.team
    channel = route.channel
    if channel is None:
        # A route that names a team but no channel posts to that team's channel.
        named = route.team is not None and route.team in channels
        channel = channels[route.team] if named and route.team else parent.channel
    severity = parent.severity_map
    if route.severity is not None:
        severity = tuple(sorted({**dict(parent.severity_map), **route.severity}.items()))
    return RouteDecision(
        route_id=route_id,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        team=team,
        escalation=route.escalation if route.escalation is not None else parent.escalation,
        channel=channel,
        notify_only=route.notify_only if route.notify_only is not None else parent.notify_only,
        flap_window=route.flap_window if route.flap_window is not None else parent.flap_window,
        runbook=route.runbook if route.runbook is not None else parent.runbook,
        severity_map=severity,
    )


def _build(
    routes: list[Route],
    parent_id: str,
    parent: RouteDecision,
    channels: dict[str, str],
    location: tuple[str | int, ...],
) -> Siblings:
    nodes: list[RouteNode] = []
    seen: dict[str, int] = {}
    for index, route in enumerate(routes):
        matchers = route.compiled()
        text = render(matchers)
        n = seen.get(text, 0)
        seen[text] = n + 1
        # Identified by matchers, not position: reordering routes keeps open incidents.
        route_id = f"{parent_id}/{text}" + (f"/{n}" if n else "")
        decision = _inherit(parent, route, route_id, channels)
        here = (*location, index)
        nodes.append(
            RouteNode(
                id=route_id,
                matchers=matchers,
                decision=decision,
                children=_build(route.routes, route_id, decision, channels, (*here, "routes")),
                continue_=route.continue_,
                location=here,
            )
        )
    return Siblings(nodes)


class Router:
    def __init__(self, config: RulesConfig) -> None:
        channels = {name: team.channel for name, team in config.teams.items() if team.channel}
        base = RouteDecision(ROOT_ID, ("alertname",), None, None, None, False, timedelta(minutes=5))
        self.default = _inherit(base, config.defaults, ROOT_ID, channels)
        self.roots = _build(config.routes, ROOT_ID, self.default, channels, ("routes",))

    def route(self, labels: dict[str, str]) -> list[RouteDecision]:
        """Every route the alert takes (more than one only through `continue`)."""
        found = _match_children(self.roots, labels)
        return [node.decision for node in found] if found else [self.default]

    def route_nodes(self, labels: dict[str, str]) -> list[RouteNode]:
        """Like `route`, with the nodes (for explaining a decision); [] = the default."""
        return _match_children(self.roots, labels)

    def walk(self) -> list[RouteNode]:
        out: list[RouteNode] = []
        stack = list(reversed(self.roots.nodes))
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children.nodes))
        return out


def _match_children(children: Siblings, labels: dict[str, str]) -> list[RouteNode]:
    found: list[RouteNode] = []
    for child in children.candidates(labels):
        matches = _match(child, labels)
        found.extend(matches)
        if matches and not child.continue_:
            break
    return found


def _match(node: RouteNode, labels: dict[str, str]) -> list[RouteNode]:
    if not matches_all(node.matchers, labels):
        return []
    return _match_children(node.children, labels) or [node]

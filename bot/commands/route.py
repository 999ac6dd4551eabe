"""`pagerbot route`: a dry run of routing, so a rules change can be reviewed like code."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.durations import format_duration
from bot.escalation.engine import next_window, within
from bot.escalation.targets import resolver
from bot.ingest import fingerprint
from bot.oncall.rotation import DbOverride
from bot.rules.matchers import matches_all, render
from bot.rules.mute import Muter, SilenceRule
from bot.rules.router import RouteDecision, RouteNode


class UsageError(ValueError):
    pass


def parse_labels(pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"{pair!r}: write labels as NAME=VALUE")
        labels[name] = value
    return labels


@dataclass
class Explainer:
    config: Config
    at: datetime
    silences: list[SilenceRule]
    firing: list[tuple[str, dict[str, str]]] | None  # None: the store was not reachable
    public_url: str
    overrides: Mapping[str, Sequence[DbOverride]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.resolve = resolver(self.config.rules, self.overrides)
        self.muter = Muter(self.config.rules, self.silences)
        for fp, labels in self.firing or []:
            self.muter.inhibitor.observe(fp, labels, True)
        self.nodes = {node.location: node for node in self.config.router.walk()}

    def explain(self, labels: dict[str, str]) -> dict[str, Any]:
        fp = fingerprint(labels)
        nodes = self.config.router.route_nodes(labels)
        decisions = [self._decision(labels, fp, node) for node in nodes] or [
            self._decision(labels, fp, None)
        ]
        return {"labels": labels, "fingerprint": fp, "at": self.at.isoformat(), "routes": decisions}

    def _path(self, node: RouteNode | None) -> list[dict[str, str]]:
        path = [{"route": "defaults", "where": self.config.where(("defaults",))}]
        if node is None:
            return path
        loc = node.location
        for end in range(2, len(loc) + 1, 2):
            step = self.nodes[loc[:end]]
            path.append({"route": render(step.matchers), "where": self.config.where(step.location)})
        return path

    def _decision(self, labels: dict[str, str], fp: str, node: RouteNode | None) -> dict[str, Any]:
        decision: RouteDecision = node.decision if node else self.config.router.default
        book = self.config.runbooks.for_alert(labels, decision.runbook)
        mute = self.muter.mute(fp, labels, self.at)
        return {
            "route": decision.route_id,
            "default": node is None,
            "path": self._path(node),
            "group_key": decision.group_key(labels),
            "team": decision.team,
            "channel": decision.channel,
            "escalation": decision.escalation,
            "notify_only": decision.notify_only,
            "severity": decision.severity(labels),
            "flap_window": format_duration(decision.flap_window),
            "runbook": None
            if book is None
            else {
                "name": book.name,
                "file": book.path,
                "url": f"{self.public_url}/runbooks/{book.name}",
                "actions": [a.name for a in book.meta.actions],
            },
            "muted": None if mute is None else {"by": mute.ref, "why": mute.text},
            "inhibitable_by": self._inhibitions(labels),
            "page_path": [] if decision.notify_only else self._page_path(decision),
        }

    def _inhibitions(self, labels: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for i, rule in enumerate(self.config.rules.inhibit_rules):
            source, target = rule.sides()
            if matches_all(target.compiled(), labels):
                out.append(
                    {
                        "rule": f"inhibit_rules[{i}]",
                        "where": self.config.where(("inhibit_rules", i)),
                        "source": render(source.compiled()),
                        "equal": rule.equal,
                    }
                )
        return out

    def _page_path(self, decision: RouteDecision) -> list[dict[str, Any]]:
        """Each page if nobody acknowledges an incident opened at `at`: when, and who is
        on call then (a step outside its `during` window waits for it, as the engine does)."""
        policy = self.config.rules.escalation_policies.get(decision.escalation or "")
        if policy is None:
            return []
        out = []
        for offset, round_, index, step in policy.timeline():
            when = self.at + offset
            if not within(step.during, when, policy.timezone):
                assert step.during is not None
                when = next_window(step.during, when, policy.timezone)
            out.append(
                {
                    "round": round_,
                    "step": index,
                    "after": format_duration(offset),
                    "at": when.isoformat(),
                    "notify": step.notify,
                    "who": self.resolve(step, when),
                }
            )
        return out


def render_text(result: dict[str, Any]) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in result["labels"].items())
    lines = [f"alert {{{labels}}}  fingerprint {result['fingerprint']}  at {result['at']}"]
    for r in result["routes"]:
        lines.append("")
        lines.append(
            f"route       {r['route']}" + ("  (default: matched no route)" if r["default"] else "")
        )
        lines.append("path        " + " → ".join(f"{p['route']} ({p['where']})" for p in r["path"]))
        lines.append(f"group key   {r['group_key']}")
        lines.append(
            f"team        {r['team'] or '-'}   channel {r['channel'] or '-'}   "
            f"severity {r['severity']}"
        )
        book = r["runbook"]
        lines.append(
            "runbook     " + (f"{book['name']} ({book['file']}) {book['url']}" if book else "-")
        )
        lines.append("muted       " + (r["muted"]["why"] if r["muted"] else "no"))
        for inh in r["inhibitable_by"]:
            lines.append(
                f"            inhibited while a firing alert matches {inh['source']}"
                f" with the same {', '.join(inh['equal']) or '(any)'} "
                f"({inh['rule']}, {inh['where']})"
            )
        if r["notify_only"]:
            lines.append("pages       nobody (notify_only: posts to the channel)")
        elif not r["page_path"]:
            lines.append("pages       nobody (no escalation policy)")
        else:
            lines.append(f"escalation  {r['escalation']}")
            for step in r["page_path"]:
                who = ", ".join(step["who"]) or "nobody (gap in coverage)"
                when = datetime.fromisoformat(step["at"]).astimezone(UTC)
                lines.append(
                    f"  round {step['round']} step {step['step']} after {step['after']:>4}:"
                    f" {step['notify']} → {who}  (at {when:%Y-%m-%d %H:%M}Z)"
                )
    return "\n".join(lines)


def route_file(config: Config, explainer: Explainer, path: Path) -> dict[str, Any]:
    """Route every saved alert; say which took the default and which routes none took."""
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    if isinstance(items, dict) and "alerts" in items:
        items = items["alerts"]  # an Alertmanager webhook body
    if not isinstance(items, list):
        raise UsageError(f'{path}: expected a JSON list of alerts ({{"labels": {{...}}}})')
    results = []
    used: set[str] = set()
    for i, item in enumerate(items):
        labels = item.get("labels", item) if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise UsageError(f"{path}: item {i}: expected an object of string labels")
        result = explainer.explain(labels)
        results.append(result)
        for r in result["routes"]:
            used.update(p["where"] for p in r["path"][1:])
    unused = [
        {"route": render(node.matchers), "where": config.where(node.location)}
        for node in config.router.walk()
        if config.where(node.location) not in used
    ]
    defaulted = [r["labels"] for r in results if any(x["default"] for x in r["routes"])]
    return {"alerts": results, "default_route": defaulted, "unused_routes": unused}

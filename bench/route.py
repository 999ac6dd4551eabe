"""Routing and muting decisions per second: 1,000 routes and 10,000 active silences.

Run: .venv/bin/python bench/route.py [--routes 1000] [--silences 10000] [--alerts 50000]
Prints decisions/s for routing alone, muting alone, and both, as ingest does them.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from bot.ingest import fingerprint
from bot.rules.matchers import Matcher
from bot.rules.model import RulesConfig
from bot.rules.mute import Muter, SilenceRule
from bot.rules.router import Router


def build_config(routes: int) -> RulesConfig:
    """Teams own services; each team route has a few children by severity and env."""
    items = []
    teams = max(1, routes // 5)
    for t in range(teams):
        items.append(
            {
                "match": {"team": f"team-{t}"},
                "group_by": ["alertname", "cluster"],
                "escalation": f"team-{t}",
                "routes": [
                    {"match": {"severity": "info"}, "notify_only": True},
                    {"match_re": {"env": "staging|dev"}, "notify_only": True},
                    {
                        "matchers": ['severity="critical"', 'env!="dev"'],
                        "escalation": f"team-{t}-hi",
                    },
                    {"match": {"service": f"svc-{t}"}, "continue": True},
                ],
            }
        )
    items.append({"match_re": {"namespace": "kube-.*"}, "escalation": "platform"})
    return RulesConfig.model_validate(
        {
            "routes": items,
            "inhibit_rules": [
                {
                    "source": {"alertname": "DatacenterDown"},
                    "target": {"severity": "warning"},
                    "equal": ["datacenter"],
                }
            ],
            "maintenance_windows": [
                {
                    "name": "backups",
                    "match": {"service": "backup"},
                    "every": {"days": ["Sun"], "from": "02:00", "to": "04:00"},
                    "timezone": "Europe/Berlin",
                },
            ],
        }
    )


def build_silences(count: int, now: datetime) -> list[SilenceRule]:
    out = []
    for i in range(count):
        matchers = (
            Matcher.parse(f'alertname="Alert{i}"'),
            Matcher.parse(f'instance=~"host-{i}.*"'),
        )
        if i % 100 == 0:  # a few with no equality matcher at all: scanned for every alert
            matchers = (Matcher.parse(f'instance=~"rare-{i}-.*"'),)
        out.append(
            SilenceRule(
                f"silence:{i}",
                matchers,
                now - timedelta(hours=1),
                now + timedelta(hours=1),
                "alice",
                "bench",
            )
        )
    return out


def alerts(count: int, teams: int, rng: random.Random) -> list[dict[str, str]]:
    out = []
    for _ in range(count):
        t = rng.randrange(teams + teams // 10 + 1)  # some teams have no route: default
        out.append(
            {
                "alertname": f"Alert{rng.randrange(20_000)}",
                "team": f"team-{t}",
                "severity": rng.choice(["critical", "warning", "info"]),
                "env": rng.choice(["prod", "staging", "dev"]),
                "cluster": f"c{rng.randrange(10)}",
                "instance": f"host-{rng.randrange(20_000)}:9100",
                "service": f"svc-{rng.randrange(teams)}",
                "datacenter": rng.choice(["fra", "ams"]),
            }
        )
    return out


def rate(label: str, count: int, fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    elapsed = time.perf_counter() - started
    per_s = count / elapsed
    print(f"{label:<44} {per_s:>12,.0f} /s   ({elapsed * 1e6 / count:.1f} µs each)")
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routes", type=int, default=1000)
    parser.add_argument("--silences", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(7)
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    config = build_config(args.routes)
    started = time.perf_counter()
    router = Router(config)
    muter = Muter(config, build_silences(args.silences, now))
    build = time.perf_counter() - started
    routes = len(router.walk())
    sample = alerts(args.alerts, args.routes // 5, rng)
    fps = [fingerprint(a) for a in sample]
    muted = sum(1 for fp, a in zip(fps, sample, strict=True) if muter.mute(fp, a, now))
    print(
        f"{routes} routes, {args.silences} active silences, {args.alerts} alerts "
        f"({muted} muted); built in {build * 1000:.0f} ms"
    )

    def route_all() -> None:
        for labels in sample:
            for decision in router.route(labels):
                decision.group_key(labels)

    def mute_all() -> None:
        for fp, labels in zip(fps, sample, strict=True):
            muter.mute(fp, labels, now)

    def both() -> None:
        for fp, labels in zip(fps, sample, strict=True):
            muter.mute(fp, labels, now)
            for decision in router.route(labels):
                decision.group_key(labels)

    rate("routing decisions (with group key)", len(sample), route_all)
    rate("mute decisions (silences, windows, inhibit)", len(sample), mute_all)
    total = rate("both, as ingest does them", len(sample), both)
    print(f"target ≥ 50,000 decisions/s: {'met' if total >= 50_000 else 'MISSED'}")


if __name__ == "__main__":
    main()

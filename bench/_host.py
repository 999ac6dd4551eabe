"""How fast this host runs Python right now, to read a benchmark's figures against.

The reference machine's speed swings by more than a factor of two between sessions
(one connection: 1,494 to 6,196 alerts/s for the same code) with no steal shown.
This times a fixed piece of single-threaded work of the same kind as the bot's
(decode JSON bodies, walk their labels, pickle the result), made only of the standard
library, so that it does not change when the bot does: two runs that print the same
figure ran on a host of the same speed.
"""

from __future__ import annotations

import json
import pickle
import time

_BODIES = 400
_ALERTS = 10


def _bodies() -> list[bytes]:
    bodies = []
    for b in range(_BODIES):
        alerts = [
            {
                "status": "firing" if (b + a) % 5 else "resolved",
                "labels": {
                    "alertname": f"KubePodCrashLooping{b % 7}",
                    "cluster": f"eu-{b % 3}",
                    "namespace": f"team-{b % 11}",
                    "pod": f"api-{b:04x}-{a:02x}",
                    "severity": "critical" if a % 3 else "warning",
                    "job": "kube-state-metrics",
                },
                "annotations": {
                    "summary": f"Pod api-{b:04x}-{a:02x} is restarting {a + 1} times / 10 min",
                    "runbook_url": "https://runbooks.example.com/alerts/kubepodcrashlooping",
                },
                "startsAt": f"2026-12-07T10:{b % 60:02d}:{a:02d}.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"{b * 131 + a:016x}",
            }
            for a in range(_ALERTS)
        ]
        bodies.append(json.dumps({"version": "4", "alerts": alerts}).encode())
    return bodies


def _work(bodies: list[bytes]) -> int:
    rows = []
    for body in bodies:
        for alert in json.loads(body)["alerts"]:
            labels = alert["labels"]
            key = "\xff".join(f"{k}\xff{labels[k]}" for k in sorted(labels))
            rows.append((key, alert["status"], alert["startsAt"][:19], alert["annotations"]))
    return len(pickle.dumps(rows, pickle.HIGHEST_PROTOCOL))


def reference_ms(rounds: int = 7) -> float:
    """The best of `rounds` timings of the fixed work, in ms (lower is faster)."""
    bodies = _bodies()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        _work(bodies)
        best = min(best, time.perf_counter() - started)
    return best * 1000

"""Slack storm benchmark: 100,000 alerts in 1,000 groups through the webhook, delivered
to a Slack Web API stand-in by the real `pagerbot serve`.

Each group arrives as Alertmanager sends it: growing snapshots of the whole group
(25%, 50%, 75%, 100% of its alerts), so every incident changes several times while its
channel is still busy. Incidents are spread over --channels team channels.

Prints: messages written (chat.postMessage + chat.update) per channel per second — max
and p99 over every channel-second, and the shortest gap between two writes to one
channel; the time from the last webhook until every incident message shows its final
state; and what was lost or doubled (top-level messages per incident).

Run:  .venv/bin/python bench/storm.py [--quick] [--alerts N --groups N --channels N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.chat.standin import SlackStandin  # noqa: E402

SNAPSHOTS = (0.25, 0.5, 0.75, 1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(root: Path, channels: int) -> None:
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    teams = "\n".join(
        f'  t{c}: {{channel: "#storm-{c}", members: {{u{c}: {{slack: U{c:04d}}}}}}}'
        for c in range(channels)
    )
    (root / "rules" / "rules.yaml").write_text(
        f"teams:\n{teams}\ndefaults:\n  group_by: [alertname, team]\n"
        "routes:\n"
        + "".join(
            f"  - match: {{team: t{c}}}\n    team: t{c}\n    group_by: [alertname, team]\n"
            for c in range(channels)
        ),
        encoding="utf-8",
    )


def webhook(group: int, size: int, channels: int) -> bytes:
    name = f"Storm{group:04d}"
    team = f"t{group % channels}"
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "team": team, "instance": f"host-{i:05d}"},
            "annotations": {"summary": f"{name} on host-{i:05d}"},
            "startsAt": "2026-11-20T11:59:00.123456789Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph?g0.expr=up",
        }
        for i in range(size)
    ]
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{name}",team="{team}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "pagerbot",
            "groupLabels": {"alertname": name, "team": team},
            "commonLabels": {"alertname": name, "team": team},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example",
            "alerts": alerts,
        }
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"pagerbot serve exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise SystemExit("pagerbot serve did not become ready")


async def send_all(url: str, groups: int, per_group: int, channels: int, workers: int) -> int:
    bodies = [
        (g, max(1, math.ceil(per_group * share))) for share in SNAPSHOTS for g in range(groups)
    ]
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    failures = 0

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            group, size = queue.get_nowait()
            body = webhook(group, size, channels)
            for _ in range(20):
                async with http.post(f"{url}/webhooks/alertmanager", data=body) as resp:
                    if resp.status == 200:
                        break
                    failures += 1
                await asyncio.sleep(0.5)

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(workers)))
    return failures


def final_state_shown(message: Any, per_group: int) -> bool:
    fields = [f.get("text", "") for b in message.blocks for f in b.get("fields") or []]
    return any(f"{per_group:,} firing" in text for text in fields)


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])


async def run(args: argparse.Namespace) -> None:
    per_group = args.alerts // args.groups
    tmp = Path(tempfile.mkdtemp(prefix="pagerbot-storm-"))
    write_config(tmp / "config", args.channels)
    port = free_port()
    async with SlackStandin() as slack:
        env = {
            **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
            "PAGERBOT_CONFIG_DIR": str(tmp / "config"),
            "PAGERBOT_DATABASE_URL": f"sqlite:///{tmp / 'storm.db'}",
            "PAGERBOT_PORT": str(port),
            "PAGERBOT_LOG_LEVEL": "WARNING",
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench-secret",
            "SLACK_API_URL": slack.api_url,
        }
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            [str(REPO / ".venv" / "bin" / "pagerbot"), "serve"], env=env, cwd=tmp
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(url, proc)
            started = time.monotonic()
            failures = await send_all(url, args.groups, per_group, args.channels, args.workers)
            sent = time.monotonic()
            deadline = sent + args.timeout
            current = 0
            while time.monotonic() < deadline:
                tops = [m for m in slack.messages.values() if m.thread_ts is None]
                current = sum(final_state_shown(m, per_group) for m in tops)
                if current >= args.groups:
                    break
                await asyncio.sleep(0.25)
            done = time.monotonic()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        report(args, slack, per_group, failures, started, sent, done, current)


def report(
    args: argparse.Namespace,
    slack: SlackStandin,
    per_group: int,
    failures: int,
    started: float,
    sent: float,
    done: float,
    current: int,
) -> None:
    writes: dict[str, list[float]] = defaultdict(list)
    for call in slack.calls:
        if call.method in ("chat.postMessage", "chat.update") and call.outcome == "ok":
            writes[slack.channel_id(str(call.params.get("channel", "")))].append(call.at)
    per_second: list[int] = []
    min_gap = math.inf
    for stamps in writes.values():
        stamps.sort()
        buckets: dict[int, int] = defaultdict(int)
        for t in stamps:
            buckets[int(t - started)] += 1
        per_second.extend(buckets.values())
        min_gap = min([min_gap, *(b - a for a, b in itertools.pairwise(stamps))])
    tops = [m for m in slack.messages.values() if m.thread_ts is None]
    by_title: dict[str, int] = defaultdict(int)
    for message in tops:
        by_title[message.blocks[0]["text"]["text"] if message.blocks else message.text] += 1
    doubled = sum(n - 1 for n in by_title.values() if n > 1)
    print(f"alerts {args.groups * per_group:,} in {args.groups:,} groups, {args.channels} channels")
    hooks = len(SNAPSHOTS) * args.groups
    print(f"webhooks: {hooks:,} sent in {sent - started:.1f}s, {failures} answered non-200")
    print(
        f"channel writes: {sum(map(len, writes.values())):,} ok "
        f"(posts+updates; thread replies included), {len(slack.calls):,} API calls in all"
    )
    print(
        f"writes per channel per second: max {max(per_second, default=0)}, "
        f"p99 {percentile(per_second, 0.99):.0f}, shortest gap {min_gap:.3f}s"
    )
    print(
        f"every incident message current: {current:,}/{args.groups:,} "
        f"{done - sent:.1f}s after the last webhook ({done - started:.1f}s from the first)"
    )
    print(f"top-level messages: {len(tops):,} for {args.groups:,} incidents; duplicates {doubled}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--quick", action="store_true", help="10,000 alerts in 100 groups")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.groups = 10_000, 100
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

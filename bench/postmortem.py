"""Post-mortem rendering of long timelines: time, and peak Python memory (tracemalloc, in a
second render so its overhead does not count in the time).

Run: .venv/bin/python bench/postmortem.py [--events 1000 10000 100000]
Builds one incident per size in a temporary SQLite database (a flapping alert storm with
pages, notes and remediation steps mixed in), then renders its Markdown draft into a
file. Peak memory should stay flat as the timeline grows: events are read in pages and
the template writes as it goes.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import Connection

from bot.postmortem.draft import DraftContext, gather
from bot.postmortem.render import render_to
from bot.store import Store
from bot.store.tables import alerts, incidents, timeline

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _event(number: int, i: int) -> dict[str, object]:
    at = T0 + timedelta(seconds=i)
    if i % 500 == 499:
        kind, actor, data = "remediation_finished", "pagerbot", {"run": i, "status": "succeeded"}
    elif i % 100 == 99:
        kind, actor, data = "note", "alice", {"source": None}
    elif i % 50 == 49:
        kind, actor, data = "paged", "escalation", {"users": ["alice"], "round": 1, "step": 1}
    else:
        kind = ("alerts_firing", "alerts_resolved", "reopened", "resolved")[i % 4]
        actor = "alerts"
        data = {
            "count": 1,
            "alerts": [
                {
                    "fingerprint": f"{i % 64:016x}",
                    "alertname": f"DiskFull{i % 3}",
                    "generator_url": "http://prometheus.example/graph?g0.expr=disk",
                    "starts_at": (at - timedelta(seconds=30)).isoformat(),
                }
            ],
        }
        if kind == "resolved":
            data = {"by": "alerts"}
    return {
        "incident_id": number,
        "at": at,
        "kind": kind,
        "actor": actor,
        "text": f"{kind} event {i} " + "x" * 60,
        "data": orjson.dumps(data).decode(),
    }


def _seed(conn: Connection, number: int, events: int) -> None:
    conn.execute(
        incidents.insert().values(
            id=number,
            group_key=f"g{number}",
            route_id="{}",
            title=f"Storm {events}",
            severity="critical",
            team="payments",
            state="resolved",
            created_at=T0,
            updated_at=T0,
            resolved_at=T0 + timedelta(seconds=events),
            flap_count=events // 4,
        )
    )
    conn.execute(
        alerts.insert(),
        [
            {
                "incident_id": number,
                "fingerprint": f"{f:016x}",
                "status": "resolved",
                "labels": orjson.dumps({"alertname": f"DiskFull{f % 3}", "pod": f"p{f}"}).decode(),
                "annotations": "{}",
                "starts_at": T0,
                "ends_at": T0,
                "generator_url": "",
                "source": "bench",
                "content_hash": "0",
                "first_seen": T0,
                "last_changed": T0,
            }
            for f in range(64)
        ],
    )
    for start in range(0, events, 5000):
        rows = [_event(number, i) for i in range(start, min(events, start + 5000))]
        conn.execute(timeline.insert(), rows)


async def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        await store.open()
        try:
            print(f"{'events':>8} {'render s':>9} {'peak MiB':>9} {'output KiB':>11}")
            for number, size in enumerate(sizes, start=1):
                await store.write(lambda c, n=number, s=size: _seed(c, n, s))
                out = Path(tmp) / f"inc-{number}.md"
                ctx = DraftContext(now=T0 + timedelta(days=1), base_url="https://pb.example")

                def render(
                    session: object, n: int = number, path: Path = out, c: DraftContext = ctx
                ) -> int:
                    with path.open("w", encoding="utf-8") as sink:
                        return render_to(gather(session, n, c), "md", sink)  # type: ignore[arg-type]

                started = time.perf_counter()
                written = await store.read(render)
                seconds = time.perf_counter() - started
                tracemalloc.start()
                await store.read(render)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                print(f"{size:>8} {seconds:>9.2f} {peak / 2**20:>9.1f} {written / 1024:>11.0f}")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1000, 10_000, 100_000])
    asyncio.run(main(parser.parse_args().events))

"""On-call speed: the math, the escalation tick, and how late pages are.

Run: .venv/bin/python bench/oncall.py [--schedules 500] [--queries 50000] [--seed 7]
        [--incidents 10000] [--lateness 500] [--database URL]
Prints answers/s of who_is_on_call at random instants (what every page asks) and
schedules/s and shifts/s of final_shifts over a year (what calendars and reports ask)
for 500 schedules of 3 layers; then, on a real store (SQLite in a temp folder unless
--database), the cost of an escalation tick with 10,000 open incidents (nothing due,
and all due at once), and the lateness of pages from a running bot: the due time of
each step against when the tick recorded it and when the Notifier got it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from bot.app import Pagerbot
from bot.config import load_config
from bot.escalation import engine, targets
from bot.notify import EventView, IncidentView
from bot.oncall import DbOverride, final_shifts, next_handoff, who_is_on_call
from bot.rules.model import DAYS, Schedule
from bot.settings import Settings
from bot.store import Store
from bot.store.tables import escalations, incidents, outbox, timeline

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata"]
PEOPLE = [f"user{i}" for i in range(40)]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


def layer(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["daily", "weekly", "custom"])
    start = datetime(2025, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23))
    out: dict[str, Any] = {
        "rotation": kind,
        "start": start.isoformat(),
        "members": rng.sample(PEOPLE, rng.randint(2, 8)),
    }
    if kind == "custom":
        out["shift_length"] = rng.choice(["8h", "12h", "1d", "3d"])
    elif kind == "weekly":
        out["handoff"] = f"{rng.choice(DAYS)} {rng.randint(0, 23):02d}:00"
    else:
        out["handoff"] = f"{rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}"
    if rng.random() < 0.5:
        begin, end = rng.randint(0, 23), rng.randint(0, 23)
        out["restrict"] = {
            "days": rng.sample(list(DAYS), rng.randint(1, 6)),
            "from": f"{begin:02d}:00",
            "to": f"{end:02d}:00",
        }
    return out


def schedule(rng: random.Random) -> Schedule:
    overrides = []
    for _ in range(rng.randint(0, 4)):
        start = YEAR_START + timedelta(hours=rng.randint(0, 365 * 24))
        end = start + timedelta(hours=rng.randint(1, 72))
        overrides.append(
            {"user": rng.choice(PEOPLE), "from": start.isoformat(), "to": end.isoformat()}
        )
    return Schedule.model_validate(
        {
            "timezone": rng.choice(ZONES),
            "layers": [layer(rng) for _ in range(3)],
            "overrides": overrides,
        }
    )


def timed(work: Callable[[], int]) -> tuple[float, int]:
    began = time.perf_counter()
    count = work()
    return time.perf_counter() - began, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=500)
    parser.add_argument("--queries", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--lateness", type=int, default=500, help="pages timed for lateness")
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    schedules = [schedule(rng) for _ in range(args.schedules)]
    stored = [
        [DbOverride(rng.choice(PEOPLE), t, t + timedelta(hours=8))]
        for t in (YEAR_START + timedelta(hours=rng.randint(0, 8760)) for _ in schedules)
    ]
    asks = [
        (rng.randrange(len(schedules)), YEAR_START + timedelta(seconds=rng.randint(0, 365 * 86400)))
        for _ in range(args.queries)
    ]

    def who() -> int:
        return sum(who_is_on_call(schedules[i], t, stored[i]) is not None for i, t in asks)

    def handoffs() -> int:
        for i, t in asks[: len(asks) // 10]:
            next_handoff(schedules[i], t, stored[i])
        return len(asks) // 10

    def year() -> int:
        end = YEAR_START + timedelta(days=365)
        return sum(
            len(final_shifts(s, YEAR_START, end, o)) for s, o in zip(schedules, stored, strict=True)
        )

    who_s, covered = timed(who)
    next_s, nexts = timed(handoffs)
    year_s, shifts = timed(year)
    print(f"{len(schedules)} schedules x 3 layers, {len(asks)} random instants in 2026")
    print(f"{'operation':<34}{'count':>10}{'seconds':>10}{'per second':>14}")
    rows = [
        ("who_is_on_call (answers)", len(asks), who_s),
        ("next_handoff (answers)", nexts, next_s),
        ("final_shifts, 1 year (schedules)", len(schedules), year_s),
        ("final_shifts, 1 year (shifts)", shifts, year_s),
    ]
    for name, count, seconds in rows:
        print(f"{name:<34}{count:>10}{seconds:>10.2f}{count / seconds:>14,.0f}")
    print(f"instants with someone on call: {covered / len(asks):.1%}")
    print()
    asyncio.run(bench_escalation(args.incidents, args.lateness, args.database))


ESCALATION_RULES = """
teams:
  ops: {members: {alice: {slack: U1}, bob: {slack: U2}, carol: {slack: U3}}}
schedules:
  primary:
    timezone: Europe/Berlin
    layers:
      - {rotation: weekly, start: 2026-01-05T09:00, handoff: "Mon 09:00", members: [alice, bob]}
      - rotation: daily
        start: 2026-01-03T08:00
        restrict: {days: [Sat, Sun], from: "08:00", to: "20:00"}
        members: [carol]
escalation_policies:
  ops:
    - {notify: schedule:primary, after: 0m}
    - {notify: user:carol, after: 10m}
    - {notify: team:ops, after: 20m}
routes:
  - {match: {team: ops}, team: ops, escalation: ops}
"""


def config_folder(root: Path) -> Path:
    (root / "rules").mkdir(parents=True, exist_ok=True)
    (root / "runbooks").mkdir(exist_ok=True)
    (root / "rules" / "oncall.yaml").write_text(ESCALATION_RULES, encoding="utf-8")
    return root


def seed(conn: Connection, first: int, count: int, now: datetime, due: list[datetime]) -> None:
    """`count` open incidents with escalations at step 1, due at the given times."""
    conn.execute(
        incidents.insert(),
        [
            {
                "id": first + i,
                "group_key": f"bench:{first + i}",
                "route_id": "bench",
                "title": f"Bench {first + i}",
                "severity": "critical",
                "team": "ops",
                "escalation": "ops",
                "notify_only": False,
                "state": "triggered",
                "group_labels": "{}",
                "created_at": now,
                "updated_at": now,
                "flap_count": 0,
                "firing_count": 1,
                "alert_count": 1,
                "muted_count": 0,
            }
            for i in range(count)
        ],
    )
    conn.execute(
        escalations.insert(),
        [
            {
                "incident_id": first + i,
                "policy": "ops",
                "started_at": due[i],
                "next_index": 0,
                "due_at": due[i],
                "reason": "opened",
            }
            for i in range(count)
        ],
    )


async def tick_cost(store: Store, config_dir: Path, count: int) -> None:
    rules = load_config(config_dir).rules
    now = store.clock()

    def run(conn: Connection) -> engine.TickResult:
        resolve = targets.resolver(rules, targets.stored_overrides(conn, now))
        return engine.tick_batch(conn, rules.escalation_policies, resolve, {}, now)

    later = [now + timedelta(hours=1)] * count
    await store.write(partial(seed, first=1, count=count, now=now, due=later))
    idle = []
    for _ in range(50):
        began = time.perf_counter()
        await store.write(run)
        idle.append(time.perf_counter() - began)
    await store.write(
        lambda conn: conn.execute(escalations.update().values(due_at=now, started_at=now))
    )
    began, pages, more = time.perf_counter(), 0, True
    while more:
        result = await store.write(run)
        pages, more = pages + len(result.pages), result.more
    storm = time.perf_counter() - began
    print(f"escalation tick, {count} open incidents (SQLite unless --database)")
    print(f"  nothing due: median {statistics.median(idle) * 1e3:.2f} ms per tick")
    print(
        f"  all due at once: {pages} pages in {storm:.2f} s "
        f"({pages / storm:,.0f} pages/s, batches of {engine.BATCH})"
    )


class Timer:
    """A Notifier that notes when each page reaches it."""

    def __init__(self, expected: int) -> None:
        self.paged: dict[int, float] = {}
        self.expected = expected
        self.all_paged = asyncio.Event()

    async def incident_changed(
        self, incident: IncidentView, events: list[EventView], message_ref: str | None
    ) -> str | None:
        return message_ref or "bench"

    async def page(self, incident: IncidentView, user: str, contact: str | None, why: str) -> None:
        self.paged.setdefault(incident.id, time.time())
        if len(self.paged) >= self.expected:
            self.all_paged.set()

    async def notify_user(self, user: str, text: str) -> None:
        return None


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def lateness(url: str, config_dir: Path, count: int) -> None:
    """A running bot (real clock); steps fall due over 10 s while it ticks on its own."""
    timer = Timer(count)
    bot = Pagerbot(
        Settings(config_dir=config_dir, database_url=url), load_config(config_dir), notifier=timer
    )
    await bot.start()
    try:
        now = bot.clock()
        rng = random.Random(3)
        due = sorted(now + timedelta(seconds=rng.uniform(2, 12)) for _ in range(count))
        first = 1_000_000
        await bot.store.write(partial(seed, first=first, count=count, now=now, due=due))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(timer.all_paged.wait(), 30)

        def recorded(session: Any) -> list[Any]:
            query = sa.select(timeline.c.incident_id, timeline.c.at).where(
                timeline.c.kind == "paged", timeline.c.incident_id >= first
            )
            return list(session.execute(query))

        rows = await bot.store.read(recorded)
    finally:
        await bot.stop()
    due_of = {first + i: t for i, t in enumerate(due)}
    tick = [(r.at - due_of[r.incident_id]).total_seconds() for r in rows]
    sent = [t - due_of[i].timestamp() for i, t in timer.paged.items() if i in due_of]
    print(f"page lateness, {count} steps falling due over 10 s, running bot")
    for name, values in (("recorded by the tick", tick), ("handed to the Notifier", sent)):
        if not values:
            print(f"  {name}: none")
            continue
        p50, p99 = _pct(values, 0.5) * 1e3, _pct(values, 0.99) * 1e3
        print(
            f"  {name}: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
            f"max {max(values) * 1e3:.0f} ms ({len(values)} pages)"
        )


async def bench_escalation(count: int, late: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        config_dir = config_folder(root / "config")
        database = url or f"sqlite:///{root / 'bench.db'}"
        store = Store(database)
        await store.open()
        try:
            await tick_cost(store, config_dir, count)
            await store.write(lambda conn: conn.execute(escalations.update().values(due_at=None)))
            done = store.clock()
            await store.write(lambda conn: conn.execute(outbox.update().values(done_at=done)))
        finally:
            await store.close()
        print()
        await lateness(database, config_dir, late)


if __name__ == "__main__":
    main()

"""On-call math speed: 500 schedules of 3 layers each, mixed rotations and time zones.

Run: .venv/bin/python bench/oncall.py [--schedules 500] [--queries 50000] [--seed 7]
Prints answers/s of who_is_on_call at random instants (what every page asks), and
schedules/s and shifts/s of final_shifts over a year (what calendars and reports ask).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.oncall import DbOverride, final_shifts, next_handoff, who_is_on_call
from bot.rules.model import DAYS, Schedule

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


if __name__ == "__main__":
    main()

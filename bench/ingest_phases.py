"""Where a group commit's time goes, phase by phase, per alert, without HTTP or a second
process: the same webhook bodies as bench/ingest.py, routed with the example rules,
in batches of about 700 alerts (what 128 connections produce), written to a fresh
SQLite file (WAL, synchronous=FULL).

Run: .venv/bin/python bench/ingest_phases.py [--batches 150] [--requests 67] [--gc-default]

The bot's side is what the event loop does for each webhook (encode and pickle its
alerts, 10 a request, as the message the ingest process reads); the rest is the
ingest process's work. Single-thread figures:
far steadier than the HTTP benchmark on a shared host, so use them to judge a change
to the write path.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ingest import Payloads  # noqa: E402  (bench/ingest.py's generator)

from bot.config import load_config  # noqa: E402
from bot.gc_tuning import tune_gc  # noqa: E402
from bot.incidents.grouping import Item, plan  # noqa: E402
from bot.ingest import parse_alertmanager_webhook  # noqa: E402
from bot.store import ingest as store_ingest  # noqa: E402
from bot.store.engine import create_engine, migrate  # noqa: E402
from bot.store.ingest_process import (  # noqa: E402
    decode_rows,
    encode_request,
    frame,
    split_frames,
)
from bot.store.sql import Sql  # noqa: E402

_WARMUP = 20  # batches, while the tables fill


def _items(gens: list[Payloads], count: int, config: object) -> list[Item]:
    router = config.router  # type: ignore[attr-defined]
    out = []
    for k in range(count):
        alerts, _meta = parse_alertmanager_webhook(gens[k % len(gens)].next_body())
        out.extend(
            Item(alert, route.group_key(alert.labels), route, None)
            for alert in alerts
            for route in router.route(alert.labels)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=150)
    parser.add_argument("--requests", type=int, default=67, help="webhooks per batch")
    parser.add_argument("--gc-default", action="store_true", help="keep Python's GC threshold")
    args = parser.parse_args()
    if not args.gc_default:
        tune_gc()
    config = load_config(ROOT)
    folder = tempfile.mkdtemp(prefix="pagerbot-phases-")
    engine = create_engine(f"sqlite:///{folder}/phases.db", writer=True)
    migrate(engine)
    gens = [Payloads(worker, seed=worker) for worker in range(4)]
    spent: Counter[str] = Counter()
    alerts = 0
    for batch in range(args.batches + _WARMUP):
        sent = _items(gens, args.requests, config)
        now = datetime.now(UTC)
        marks = [time.perf_counter()]
        wire = bytearray()
        for k in range(0, len(sent), 10):
            rows, routes = encode_request(sent[k : k + 10])
            wire += frame(("i", k, now, routes, rows))
        marks.append(time.perf_counter())
        items = []
        known: dict[int, object] = {}
        for message in split_frames(wire):
            known.update(message[3])
            items.extend(decode_rows(message[4], known))  # type: ignore[arg-type]
        marks.append(time.perf_counter())
        with engine.begin() as conn:
            sql = Sql(conn)
            marks.append(time.perf_counter())
            current, rows = store_ingest._load(sql, items)
            marks.append(time.perf_counter())
            result = plan(items, current, rows, now)
            marks.append(time.perf_counter())
            store_ingest._write(sql, result, now)
            marks.append(time.perf_counter())
        marks.append(time.perf_counter())
        if batch < _WARMUP:
            continue
        alerts += len(items)
        names = [
            "bot: encode and pickle",
            "process: unpickle and decode",
            None,  # BEGIN IMMEDIATE
            "process: load what the batch touches",
            "process: plan",
            "process: write",
            "process: commit (fsync)",
        ]
        for name, start, end in zip(names, marks[:-1], marks[1:], strict=True):
            if name is not None:
                spent[name] += end - start
    engine.dispose()
    print(
        f"{alerts:,} alerts in {args.batches} batches of ~{alerts // args.batches} "
        f"(GC threshold {gc.get_threshold()[0]:,})"
    )
    for name, seconds in spent.items():
        print(f"  {name:40s} {seconds / alerts * 1e6:6.1f} µs/alert")
    process = sum(v for k, v in spent.items() if k.startswith("process"))
    print(
        f"  {'process: all':40s} {process / alerts * 1e6:6.1f} µs/alert "
        f"(at most {alerts / process:,.0f} alerts/s on one core)"
    )


if __name__ == "__main__":
    main()

"""Runs `pagerbot route` with what the store knows (silences, firing alerts) when reachable."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from bot.commands.route import Explainer, UsageError, parse_labels, render_text, route_file
from bot.commands.store_access import database_exists
from bot.config import load_config
from bot.escalation.targets import overrides_between
from bot.muting import firing_pages
from bot.oncall.rotation import DbOverride
from bot.rules import ConfigError
from bot.rules.mute import SilenceRule
from bot.settings import Settings
from bot.silences import SilenceService
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)
_HORIZON = timedelta(days=3650)  # past the last page of any policy


@dataclass
class Runtime:
    """What the store adds to a dry run: run-time silences, firing alerts (for
    inhibition) and on-call overrides. `firing` is None when the store was not read."""

    silences: list[SilenceRule] = field(default_factory=list)
    firing: list[tuple[str, dict[str, str]]] | None = None
    overrides: dict[str, list[DbOverride]] = field(default_factory=dict)
    note: str = ""


async def _runtime(settings: Settings, at: datetime) -> Runtime:
    if not database_exists(settings):
        return Runtime(
            note="no database yet: run-time silences, overrides and firing alerts not considered"
        )
    store = Store(settings.database_url, ingest_process=False)  # reads and small writes
    try:
        await store.open()
        silences = await SilenceService(store).rules()
        firing = [
            (row.fingerprint, orjson.loads(row.labels))
            async for rows in firing_pages(store, full=False)
            for row in rows
        ]
        overrides = await store.read(lambda s: overrides_between(s, at, at + _HORIZON))
        return Runtime(silences, firing, overrides)
    except StoreUnavailable as exc:
        return Runtime(note=f"database not reachable ({exc}): run-time silences not considered")
    finally:
        await store.close()


async def run(settings: Settings, args: argparse.Namespace, at: datetime) -> int:
    try:
        config = load_config(settings.config_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem)
        return 1
    if not args.labels and args.file is None:
        raise UsageError("give LABEL=VALUE pairs or --file payloads.json")
    runtime = await _runtime(settings, at)
    note = runtime.note
    explainer = Explainer(
        config, at, runtime.silences, runtime.firing, settings.base_url, runtime.overrides
    )
    if args.file is not None:
        report = route_file(config, explainer, args.file)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for result in report["alerts"]:
                labels = ",".join(f"{k}={v}" for k, v in result["labels"].items())
                for r in result["routes"]:
                    print(
                        f"{labels}  →  {r['route']}  team={r['team'] or '-'} "
                        f"escalation={r['escalation'] or '-'}" + ("  MUTED" if r["muted"] else "")
                    )
            print(f"\n{len(report['default_route'])} alert(s) matched no route (took defaults)")
            for labels in report["default_route"]:
                print("  " + ",".join(f"{k}={v}" for k, v in labels.items()))
            print(f"{len(report['unused_routes'])} route(s) matched no alert")
            for unused in report["unused_routes"]:
                print(f"  {unused['route']} ({unused['where']})")
        strict_fail = report["default_route"] or report["unused_routes"]
        return 1 if args.strict and strict_fail else 0
    result = explainer.explain(parse_labels(args.labels))
    if note:
        result["note"] = note
    print(
        json.dumps(result, indent=2)
        if args.json
        else render_text(result) + (f"\n\nnote: {note}" if note else "")
    )
    return 0

"""Runs `pagerbot route` with what the store knows (silences, firing alerts) when reachable."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime

import orjson

from bot.commands.route import Explainer, UsageError, parse_labels, render_text, route_file
from bot.commands.store_access import database_exists
from bot.config import load_config
from bot.rules import ConfigError
from bot.rules.mute import SilenceRule
from bot.settings import Settings
from bot.silences import SilenceService
from bot.store import Store, StoreUnavailable, queries

log = logging.getLogger(__name__)


async def _runtime(
    settings: Settings,
) -> tuple[list[SilenceRule], list[tuple[str, dict[str, str]]] | None, str]:
    if not database_exists(settings):
        return [], None, "no database yet: run-time silences and firing alerts not considered"
    store = Store(settings.database_url)
    try:
        await store.open()
        silences = await SilenceService(store).rules()
        rows = await store.read(queries.firing_alerts)
        firing = [(row.fingerprint, orjson.loads(row.labels)) for row, _r, _k in rows]
        return silences, firing, ""
    except StoreUnavailable as exc:
        return [], None, f"database not reachable ({exc}): run-time silences not considered"
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
    silences, firing, note = await _runtime(settings)
    explainer = Explainer(config, at, silences, firing, settings.base_url)
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

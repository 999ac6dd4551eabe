"""`pagerbot incident list|show|ack|resolve|escalate|note`: incidents without Slack.

Changes go through the same transactions as Slack's buttons; a running bot posts them
(its outbox delivers what this command queued)."""

from __future__ import annotations

import getpass
import json
from functools import partial
from typing import Any

import orjson

from bot.commands.store_access import opened
from bot.config import load_config
from bot.incidents import actions
from bot.settings import Settings
from bot.store import queries
from bot.store.queries import parse_incident_ref


def _summary(row: Any) -> dict[str, Any]:
    return {
        "incident": f"INC-{row.id}",
        "state": row.state,
        "title": row.title,
        "severity": row.severity,
        "team": row.team,
        "firing": row.firing_count,
        "alerts": row.alert_count,
        "muted": row.muted,
        "flaps": row.flap_count,
        "created_at": row.created_at.isoformat(),
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
    }


async def listing(settings: Settings, *, open_only: bool, as_json: bool) -> int:
    async with opened(settings) as store:
        rows = await store.read(lambda s: queries.incidents(s, open_only=open_only))
    items = [_summary(r) for r in rows]
    if as_json:
        print(json.dumps(items, indent=2))
    elif not items:
        print("no incidents")
    for i in [] if as_json else items:
        flag = " (muted)" if i["muted"] else ""
        print(
            f"{i['incident']:>8}  {i['state']:<12} {i['severity']:<9} {i['team'] or '-':<10} "
            f"{i['firing']}/{i['alerts']} firing  {i['title']}{flag}"
        )
    return 0


async def show(settings: Settings, ref: str, *, as_json: bool) -> int:
    number = parse_incident_ref(ref)
    async with opened(settings) as store:
        row = await store.read(lambda s: queries.incident(s, number))
        if row is None:
            raise ValueError(f"no incident INC-{number}")
        events = await store.read(lambda s: queries.timeline(s, number))
    item = _summary(row) | {
        "timeline": [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "text": e.text,
                "data": orjson.loads(e.data),
            }
            for e in events
        ]
    }
    if as_json:
        print(json.dumps(item, indent=2))
        return 0
    print(
        f"{item['incident']} [{row.state}] {row.title}  severity {row.severity}  "
        f"team {row.team or '-'}  {row.firing_count}/{row.alert_count} firing"
    )
    for e in events:
        print(f"  {e.at:%Y-%m-%d %H:%M:%S}Z  {e.actor:<10} {e.text}")
    return 0


async def act(
    settings: Settings, action: str, ref: str, *, user: str | None, text: str = ""
) -> int:
    number = parse_incident_ref(ref)
    config = load_config(settings.config_dir)
    who = user or getpass.getuser()
    async with opened(settings) as store:
        row = await store.read(lambda s: queries.incident(s, number))
        policy = config.rules.escalation_policies.get(row.escalation or "") if row else None
        now = store.clock()
        fn = {
            "ack": partial(actions.acknowledge, number=number, user=who, now=now, policy=policy),
            "resolve": partial(actions.resolve, number=number, user=who, now=now),
            "escalate": partial(actions.escalate, number=number, user=who, now=now, policy=policy),
            "note": partial(actions.note, number=number, user=who, text=text, now=now),
        }[action]
        result = await store.write(fn)
    print(result.text)
    return 0 if result.outcome is actions.Outcome.DONE else 1

"""`pagerbot silence add|list|expire`: run-time silences from the command line."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Any

from bot.alertmanager_client import AlertmanagerClient, AlertmanagerError
from bot.commands.store_access import opened
from bot.durations import parse_duration
from bot.rules.mute import localize
from bot.settings import Settings
from bot.silences import SilenceError, SilenceService, parse_cli_matcher
from bot.store import silences as db


def _service(store: Any, settings: Settings) -> SilenceService:
    am = AlertmanagerClient(settings.alertmanager_url) if settings.alertmanager_url else None
    return SilenceService(store, am)


def _until(value: str) -> datetime:
    return localize(datetime.fromisoformat(value), "UTC")


async def add(
    settings: Settings,
    *,
    matchers: list[str],
    duration: str | None,
    until: str | None,
    reason: str,
    owner: str,
    created_by: str | None,
) -> int:
    parsed = [parse_cli_matcher(m) for m in matchers]
    now = datetime.now(UTC)
    if (duration is None) == (until is None):
        raise SilenceError("give exactly one of --for DURATION or --until TIME")
    try:
        ends = now + parse_duration(duration) if duration else _until(str(until))
    except ValueError as exc:
        raise SilenceError(str(exc)) from None
    async with opened(settings) as store:
        silence_id = await _service(store, settings).add(
            matchers=parsed,
            ends_at=ends,
            owner=owner,
            reason=reason,
            created_by=created_by or getpass.getuser(),
        )
    print(
        f"silence {silence_id} created: {', '.join(map(str, parsed))} until "
        f"{ends:%Y-%m-%d %H:%M}Z (owner {owner})"
    )
    return 0


async def listing(settings: Settings, *, include_ended: bool, as_json: bool) -> int:
    async with opened(settings) as store:
        now = store.clock()
        rows = await store.read(lambda s: db.listed(s, now, include_ended=include_ended))
    items: list[dict[str, Any]] = [
        {
            "id": r.id,
            "matchers": db.matchers_of(r),
            "starts_at": r.starts_at.isoformat(),
            "ends_at": r.ends_at.isoformat(),
            "owner": r.owner,
            "reason": r.reason,
            "created_by": r.created_by,
            "expired": r.expired_at is not None or r.ends_at <= now,
            "alertmanager_id": r.alertmanager_id,
            "last_matched_at": r.last_matched_at.isoformat() if r.last_matched_at else None,
        }
        for r in rows
    ]
    if as_json:
        print(json.dumps(items, indent=2))
        return 0
    if not items:
        print("no silences")
    for item in items:
        state = "expired" if item["expired"] else f"until {item['ends_at'][:16]}Z"
        print(
            f"#{item['id']}  {', '.join(item['matchers'])}  {state}  owner {item['owner']}: "
            f"{item['reason']}"
        )
    return 0


async def expire(settings: Settings, silence_id: int) -> int:
    async with opened(settings) as store:
        await _service(store, settings).expire(silence_id)
    print(f"silence {silence_id} expired")
    return 0


ERRORS = (SilenceError, AlertmanagerError)

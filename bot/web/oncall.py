"""`GET /oncall/{schedule}.ics`: a schedule's shifts as a calendar feed (`?days=` ahead)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web

from bot.escalation.targets import overrides_between
from bot.oncall import ical
from bot.web.keys import BOT


async def calendar(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    name = request.match_info["schedule"]
    schedule = bot.rules.schedules.get(name)
    if schedule is None:
        return web.json_response({"error": f"no schedule named {name!r}"}, status=404)
    text = request.query.get("days", str(ical.AHEAD_DAYS))
    if not text.isdigit() or not 1 <= int(text) <= ical.MAX_DAYS:
        return web.json_response(
            {"error": f"days must be a whole number from 1 to {ical.MAX_DAYS}, not {text!r}"},
            status=400,
        )
    days, now = int(text), bot.clock()
    lo, hi = now - ical.BACK - timedelta(days=31), now + timedelta(days=days + 31)
    stored = await bot.store.read(lambda s: overrides_between(s, lo, hi))

    def build() -> bytes:
        shifts = ical.window_shifts(schedule, now, days, stored.get(name, ()))
        return ical.render(name, schedule, shifts, now)

    body = await asyncio.to_thread(build)
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{name}.ics"'},
    )

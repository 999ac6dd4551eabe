"""Liveness, readiness and the bot's own Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.store import StoreUnavailable
from bot.web.keys import BOT

_PING_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready = database answers and a valid config is loaded; the detail says what is not."""
    bot = request.app[BOT]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(bot.store.ping(), _PING_TIMEOUT)
        checks["database"] = "ok"
    except (StoreUnavailable, TimeoutError) as exc:
        checks["database"] = f"unavailable: {exc or 'no answer within 2s'}"
    checks["config"] = (
        "ok" if bot.config_error is None else f"last reload failed: {bot.config_error}"
    )
    ready = checks["database"] == "ok" and bot.rules is not None
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[BOT].metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )

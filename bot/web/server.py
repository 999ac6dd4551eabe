"""Assembles the aiohttp application."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.chat import bolt as slack_bolt
from bot.store import StoreUnavailable
from bot.web import health, oncall, runbooks, webhooks
from bot.web import incidents as incident_pages
from bot.web.keys import BOT

if TYPE_CHECKING:
    from bot.app import Pagerbot


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency per route, and the store's outage as a 503 that senders retry."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except StoreUnavailable as exc:
        status = 503
        return web.json_response({"error": str(exc)}, status=503, headers={"Retry-After": "5"})
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "unmatched"
        request.app[BOT].metrics.request_seconds.labels(path, request.method, str(status)).observe(
            time.perf_counter() - started
        )


def build_web_app(bot: Pagerbot) -> web.Application:
    app = web.Application(
        client_max_size=bot.settings.max_body_bytes,
        middlewares=[observe, webhooks.webhook_auth],
    )
    app[BOT] = bot

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await bot.start()
        yield
        await bot.stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/webhooks/alertmanager", webhooks.alertmanager)
    app.router.add_post("/api/v2/alerts", webhooks.api_v2_alerts)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/oncall/{schedule}.ics", oncall.calendar)
    app.router.add_get("/runbooks/{name}", runbooks.runbook_page)
    app.router.add_get("/incidents/{number}", incident_pages.incident_page)
    app.router.add_get("/incidents/{number}/postmortem", incident_pages.postmortem)
    slack_bolt.mount(app, bot)
    return app

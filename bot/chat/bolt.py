"""Slack's way in: a bolt `AsyncApp` served at `POST /slack/events` on our own aiohttp
server (bolt verifies the signature: forged or older than 5 minutes → 401), or, when an
app token is set, a Socket Mode connection (no inbound port needed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.authz import parse_responders
from bot.chat.listeners import register_listeners

if TYPE_CHECKING:
    from bot.app import Pagerbot

log = logging.getLogger(__name__)
SLACK_APP = web.AppKey("slack_app", AsyncApp)
_HTTP_MODE = web.AppKey("slack_http_mode", bool)
_RECONNECT_SECONDS = 5.0


def build_app(bot: Pagerbot) -> AsyncApp | None:
    """None when Slack is not configured: no bot token, or neither a signing secret
    (HTTP mode) nor an app token (Socket Mode)."""
    settings = bot.settings
    parse_responders(settings.slack_responders)  # a bad setting fails at start, not per click
    token, secret = settings.slack_bot_token, settings.slack_signing_secret
    if token is None:
        return None
    if secret is None and settings.slack_app_token is None:
        log.warning(
            "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode) nor "
            "SLACK_APP_TOKEN (Socket Mode): Slack commands and buttons are off"
        )
        return None
    client = AsyncWebClient(
        token=token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        request_verification_enabled=secret is not None,
        logger=logging.getLogger("pagerbot.slack"),
    )
    register_listeners(app, bot)
    return app


async def slack_events(request: web.Request) -> web.Response:
    app = request.app.get(SLACK_APP)
    if app is None or request.app[_HTTP_MODE] is False:
        return web.json_response(
            {"error": "Slack HTTP mode is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"},
            status=404,
        )
    response = await app.async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(response)


def mount(web_app: web.Application, bot: Pagerbot) -> None:
    """Adds `POST /slack/events`, and the Socket Mode connection when an app token is set."""
    app = build_app(bot)
    settings = bot.settings
    web_app[_HTTP_MODE] = app is not None and settings.slack_signing_secret is not None
    if app is not None:
        web_app[SLACK_APP] = app
    web_app.router.add_post("/slack/events", slack_events)
    if app is not None and settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()

        async def socket_mode(_web_app: web.Application) -> AsyncIterator[None]:
            handler = AsyncSocketModeHandler(app, app_token, web_client=app.client)
            task = asyncio.create_task(_connect(handler), name="pagerbot-socket-mode")
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await handler.close_async()  # type: ignore[no-untyped-call]

        web_app.cleanup_ctx.append(socket_mode)


async def _connect(handler: AsyncSocketModeHandler) -> None:
    """Slack may be unreachable at start: keep trying; once connected, the client
    reconnects by itself."""
    while True:
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack Socket Mode connected")
            return
        except Exception as exc:
            log.warning("Slack Socket Mode connection failed: %s; retrying", exc)
            await asyncio.sleep(_RECONNECT_SECONDS)

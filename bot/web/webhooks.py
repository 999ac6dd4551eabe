"""Alert webhooks: parse, then answer 200 only once every alert is durably stored."""

from __future__ import annotations

import hmac

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.ingest import PayloadError, parse_alertmanager_webhook, parse_api_v2_alerts
from bot.web.keys import BOT


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def webhook_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer token on the alert endpoints; compared in constant time."""
    bot = request.app[BOT]
    token = bot.settings.webhook_token
    if token is None or not request.path.startswith(("/webhooks/", "/api/v2/")):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        bot.metrics.requests_rejected.labels("unauthorized").inc()
        reason = "missing bearer token" if not header else "wrong bearer token"
        return _error(401, reason, **{"WWW-Authenticate": 'Bearer realm="pagerbot"'})
    return await handler(request)


async def _body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        bot = request.app[BOT]
        bot.metrics.requests_rejected.labels("too_large").inc()
        limit = bot.settings.max_body_bytes
        message = f"body larger than {limit} bytes; raise PAGERBOT_MAX_BODY_BYTES"
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit,
            actual_size=request.content_length or limit + 1,
            text=orjson.dumps({"error": message}).decode(),
            content_type="application/json",
        ) from None


async def alertmanager(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    body = await _body(request)
    try:
        alerts, _meta = parse_alertmanager_webhook(body)
    except PayloadError as exc:
        bot.metrics.requests_rejected.labels("bad_payload").inc()
        return _error(400, str(exc))
    await bot.ingest(alerts)
    return web.json_response({"status": "ok", "alerts": len(alerts)})


async def api_v2_alerts(request: web.Request) -> web.Response:
    bot = request.app[BOT]
    body = await _body(request)
    try:
        alerts = parse_api_v2_alerts(
            body, now=bot.clock(), resolve_timeout=bot.rules.defaults.resolve_timeout
        )
    except PayloadError as exc:
        bot.metrics.requests_rejected.labels("bad_payload").inc()
        return _error(400, str(exc))
    await bot.ingest(alerts)
    return web.json_response({"status": "ok", "alerts": len(alerts)})

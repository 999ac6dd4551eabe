from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.app import Pagerbot

BOT: web.AppKey[Pagerbot] = web.AppKey("pagerbot", "Pagerbot")  # type: ignore[arg-type]

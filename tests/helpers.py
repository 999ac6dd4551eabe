"""Helpers for tests that run the real bot."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from bot.app import Pagerbot
from bot.config import load_config
from bot.notify import ConsoleNotifier
from bot.settings import Settings

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


class Clock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class RunningBot:
    bot: Pagerbot
    url: str
    console: io.StringIO


@contextlib.asynccontextmanager
async def running_bot(
    config_dir: Path,
    database_url: str,
    *,
    clock: Any = None,
    notifier: Any = None,
    **settings: Any,
) -> AsyncIterator[RunningBot]:
    """The whole bot, served by aiohttp on a free loopback port, console sink captured."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    cfg = Settings(
        config_dir=config_dir, database_url=database_url, host="127.0.0.1", port=port, **settings
    )
    console = io.StringIO()
    kwargs: dict[str, Any] = {"notifier": notifier or ConsoleNotifier(console)}
    if clock is not None:
        kwargs["clock"] = clock
    bot = Pagerbot(cfg, load_config(config_dir), **kwargs)
    runner = web.AppRunner(bot.web_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield RunningBot(bot, f"http://127.0.0.1:{port}", console)
    finally:
        await runner.cleanup()


async def eventually(predicate: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll until `predicate()` (sync or async) is truthy; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


def am_alert(
    status: str = "firing",
    *,
    starts_at: str = "2026-11-20T11:59:00.123456789Z",
    ends_at: str = "0001-01-01T00:00:00Z",
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations or {},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
    }


def am_webhook(*alerts: dict[str, Any], group_key: str = '{}:{alertname="A"}') -> bytes:
    firing = any(a["status"] == "firing" for a in alerts)
    return orjson.dumps(
        {
            "version": "4",
            "groupKey": group_key,
            "truncatedAlerts": 0,
            "status": "firing" if firing else "resolved",
            "receiver": "pagerbot",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example",
            "alerts": list(alerts),
        }
    )

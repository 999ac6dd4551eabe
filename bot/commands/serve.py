"""`pagerbot serve`: the service, until SIGTERM/SIGINT; SIGHUP reloads the config."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sys

from aiohttp import web

from bot.app import Pagerbot
from bot.config import load_config
from bot.gc_tuning import tune_gc
from bot.rules import ConfigError
from bot.settings import Settings

log = logging.getLogger("pagerbot")
_LISTEN_BACKLOG = 4096  # an Alertmanager storm opens thousands of connections at once


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run(settings: Settings) -> int:
    try:
        config = load_config(settings.config_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if settings.webhook_token is None and settings.listens_beyond_loopback():
        if not settings.allow_unauthenticated_webhooks:
            print(
                f"refusing to serve webhooks on {settings.host} without a token: set "
                "PAGERBOT_WEBHOOK_TOKEN (or PAGERBOT_ALLOW_UNAUTHENTICATED_WEBHOOKS=1)",
                file=sys.stderr,
            )
            return 1
        log.warning("webhooks accept requests without a token on %s", settings.host)
    _raise_fd_limit()
    tune_gc()
    bot = Pagerbot(settings, config)
    runner = web.AppRunner(bot.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner, settings.host, settings.port, backlog=_LISTEN_BACKLOG, shutdown_timeout=30
    )
    await site.start()
    log.info(
        "pagerbot listening on http://%s:%d (database %s, chat %s)",
        settings.host,
        settings.port,
        settings.database_url.split("@")[-1],
        type(bot.notifier).__name__,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[bool]] = set()

    def on_hup() -> None:
        task = loop.create_task(bot.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    await stop.wait()
    log.info("shutting down: finishing in-flight requests")
    # Stops listening, lets in-flight requests finish, then stops the writer after its
    # queue is committed: nothing accepted is half-written.
    await runner.cleanup()
    log.info("stopped")
    return 0

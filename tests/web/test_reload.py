"""Hot reload: a valid edit takes effect without a restart; a broken one changes nothing
but is reported on /readyz and /metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.helpers import eventually, running_bot


async def test_valid_edit_is_picked_up_and_broken_edit_keeps_last_good(
    config_dir: Path, sqlite_url: str
) -> None:
    routes = config_dir / "rules" / "routes.yaml"
    async with running_bot(config_dir, sqlite_url) as rb, aiohttp.ClientSession() as http:
        bot = rb.bot
        assert await bot.watch_config() is False  # nothing changed yet
        assert bot.router.route({"team": "payments"})[0].team == "payments"

        routes.write_text(
            routes.read_text()
            .replace("team: payments\n", "team: payments\n    escalation: urgent\n", 1)
            .replace(
                "teams:\n",
                "escalation_policies:\n  urgent:\n    steps:\n"
                "      - {notify: team:payments}\nteams:\n",
            )
        )
        assert await bot.watch_config() is True
        assert bot.router.route({"team": "payments"})[0].escalation == "urgent"

        good = routes.read_text()
        routes.write_text(good + "  - match: {team: x}\n    gruop_by: [a]\n")
        assert await bot.watch_config() is False
        assert bot.router.route({"team": "payments"})[0].escalation == "urgent"  # still running
        async with http.get(f"{rb.url}/readyz") as resp:
            detail = await resp.json()
        assert resp.status == 200  # the last good config serves: ready, with the reason shown
        assert "rules/routes.yaml:" in detail["checks"]["config"]
        assert "gruop_by: unknown key" in detail["checks"]["config"]
        async with http.get(f"{rb.url}/metrics") as resp:
            assert "pagerbot_config_last_reload_success 0.0" in await resp.text()

        routes.write_text(good)
        assert await bot.watch_config() is True
        async with http.get(f"{rb.url}/metrics") as resp:
            assert "pagerbot_config_last_reload_success 1.0" in await resp.text()
        async with http.get(f"{rb.url}/readyz") as resp:
            assert (await resp.json())["checks"]["config"] == "ok"


async def test_sighup_reloads_a_running_server(config_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--config",
        str(config_dir),
        "--port",
        str(port),
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
        env={**os.environ, "PAGERBOT_CONFIG_POLL_SECONDS": "0"},  # only SIGHUP can reload
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def config_state() -> str:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
            return str((await resp.json())["checks"]["config"])

    try:
        await eventually(ready, within=20)
        routes = config_dir / "rules" / "routes.yaml"
        routes.write_text(routes.read_text() + "bogus_section: 1\n")
        proc.send_signal(signal.SIGHUP)
        state = await eventually(lambda: _not_ok(config_state), within=10)
        assert "bogus_section: unknown section" in state
    finally:
        proc.terminate()
        await proc.wait()


async def _not_ok(fetch) -> str | None:  # type: ignore[no-untyped-def]
    state = await fetch()
    return None if state == "ok" else state

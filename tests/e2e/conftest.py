"""The real Alertmanager as a subprocess, wired to a running bot's webhook.

`alertmanager` yields a starter: `await alertmanager(rb, token=...)` starts one
Alertmanager per call (about 0.15 s) whose only receiver is the bot `rb` serves, with
the bot's own routing tree translated into Alertmanager's (same matchers, same
`group_by`), so both group alike. Every Alertmanager started is stopped at teardown.

The binary is `$PAGERBOT_ALERTMANAGER_BIN`, else `/usr/bin/prometheus-alertmanager`
(Debian's package), else `alertmanager` on PATH; tests that need it skip when absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.rules import RulesConfig
from bot.rules.model import Route
from tests.helpers import RunningBot

BINARY_ENV = "PAGERBOT_ALERTMANAGER_BIN"
DEBIAN_BINARY = "/usr/bin/prometheus-alertmanager"
# Timers as short as Alertmanager allows: group_wait can be 0, the other two cannot.
GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL = "0s", "1s", "1s"
_READY_WITHIN = 10.0
_STOP_WITHIN = 5.0


def alertmanager_binary() -> str | None:
    configured = os.environ.get(BINARY_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(DEBIAN_BINARY, os.X_OK):
        return DEBIAN_BINARY
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _duration(value: timedelta) -> str:
    return f"{int(value.total_seconds())}s"


def _am_route(route: Route) -> dict[str, Any]:
    """One route of the bot's tree in Alertmanager's words (same matchers, same group_by)."""
    node: dict[str, Any] = {"matchers": [str(m) for m in route.compiled()]}
    if route.group_by is not None:
        node["group_by"] = list(route.group_by)
    if route.continue_:
        node["continue"] = True
    if route.routes:
        node["routes"] = [_am_route(child) for child in route.routes]
    return node


def alertmanager_config(rules: RulesConfig, webhook_url: str, token: str) -> dict[str, Any]:
    """Alertmanager's config for one webhook receiver, routing and grouping like `rules`."""
    return {
        "global": {"resolve_timeout": _duration(rules.defaults.resolve_timeout)},
        "route": {
            "receiver": "pagerbot",
            "group_by": list(rules.defaults.group_by or ["alertname"]),
            "group_wait": GROUP_WAIT,
            "group_interval": GROUP_INTERVAL,
            "repeat_interval": REPEAT_INTERVAL,
            "routes": [_am_route(route) for route in rules.routes],
        },
        "receivers": [
            {
                "name": "pagerbot",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }


@dataclass
class Alertmanager:
    url: str
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def push(self, alerts: list[dict[str, Any]]) -> None:
        """`POST /api/v2/alerts`, as Prometheus does; fails the test on any non-200."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.url}/api/v2/alerts",
                data=orjson.dumps(alerts),
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            text = await resp.text()
            assert resp.status == 200, f"Alertmanager refused the alerts: {resp.status} {text}"

    async def alerts(self) -> list[dict[str, Any]]:
        """`GET /api/v2/alerts`: every alert it holds, with its `fingerprint`."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/api/v2/alerts") as resp:
            assert resp.status == 200
            result: list[dict[str, Any]] = await resp.json()
            return result

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` (e.g. `..._total`) whose labels include `labels`."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), _STOP_WITHIN)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _ready(url: str, process: asyncio.subprocess.Process) -> bool:
    deadline = asyncio.get_running_loop().time() + _READY_WITHIN
    async with aiohttp.ClientSession() as http:
        while process.returncode is None and asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/-/ready") as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.02)
    return False


StartAlertmanager = Callable[..., Awaitable[Alertmanager]]


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[StartAlertmanager]:
    """Starts real Alertmanagers that deliver to a running bot; stops them at teardown."""
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip(
            f"Alertmanager binary not found ({DEBIAN_BINARY}, ${BINARY_ENV} or PATH): "
            "install the Debian package prometheus-alertmanager"
        )
    started: list[Alertmanager] = []

    async def start(bot: RunningBot, *, token: str) -> Alertmanager:
        root = tmp_path / f"alertmanager-{len(started)}"
        root.mkdir()
        config = root / "alertmanager.yml"
        webhook = f"{bot.url}/webhooks/alertmanager"
        config.write_text(
            yaml.safe_dump(alertmanager_config(bot.bot.rules, webhook, token), sort_keys=False),
            encoding="utf-8",
        )
        log_path = root / "alertmanager.log"
        for _attempt in range(3):  # a free port can be taken between probe and bind
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            with log_path.open("ab") as log:
                process = await asyncio.create_subprocess_exec(
                    binary,
                    f"--config.file={config}",
                    f"--storage.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--web.external-url={url}/",
                    # Empty: no gossip, so no 0.0.0.0:9094 and no ~10 s hold on notifications.
                    "--cluster.listen-address=",
                    "--log.level=debug",
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            am = Alertmanager(url, process, log_path)
            started.append(am)
            if await _ready(url, process):
                return am
            await am.stop()
            if "address already in use" not in am.log():
                break
        raise RuntimeError(f"Alertmanager did not become ready:\n{log_path.read_text()[-4000:]}")

    yield start
    for am in started:
        await am.stop()
        print(f"--- {am.log_path} (exit {am.process.returncode}) ---\n{am.log()[-6000:]}")

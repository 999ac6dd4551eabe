"""`pagerbot serve` as operators run it: a real process, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import sqlalchemy as sa

from bot.store.engine import create_engine
from tests.helpers import am_alert, am_webhook, eventually


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start(config_dir: Path, db: str, port: int, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--config",
        str(config_dir),
        "--database",
        db,
        "--port",
        str(port),
        env={**os.environ, "PAGERBOT_WEBHOOK_TOKEN": "s3cret", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as resp:
            return resp.status == 200
    except aiohttp.ClientError:
        return False


async def test_sigterm_finishes_in_flight_requests_and_loses_nothing(
    config_dir: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    port = _port()
    proc = await _start(config_dir, db, port)
    url = f"http://127.0.0.1:{port}"
    try:
        await eventually(lambda: _ready(url), within=20)
        headers = {"Authorization": "Bearer s3cret"}
        accepted: list[int] = []
        some_accepted = asyncio.Event()

        async def send(i: int, http: aiohttp.ClientSession) -> None:
            body = am_webhook(*[am_alert(alertname=f"G{i}", pod=str(j)) for j in range(10)])
            try:
                async with http.post(
                    f"{url}/webhooks/alertmanager", data=body, headers=headers
                ) as resp:
                    if resp.status == 200:
                        accepted.append(i)
                        if len(accepted) >= 5:
                            some_accepted.set()
            except aiohttp.ClientError:
                pass  # refused after shutdown began: the sender retries, nothing was promised

        async with aiohttp.ClientSession() as http:
            tasks = [asyncio.create_task(send(i, http)) for i in range(300)]
            # Signal while requests are in flight: some answered, most not yet.
            await asyncio.wait_for(some_accepted.wait(), 30)
            proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert "shutting down" in stderr and "stopped" in stderr
    engine = create_engine(db)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT title, alert_count FROM incidents")).all())
    engine.dispose()
    # Every request that got its 200 is fully stored: all ten alerts, not half.
    for i in accepted:
        assert stored[f"G{i}"] == 10


async def test_serve_refuses_an_open_webhook_on_a_public_address(
    config_dir: Path, tmp_path: Path
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--config",
        str(config_dir),
        "--host",
        "0.0.0.0",
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
        env={k: v for k, v in os.environ.items() if k != "PAGERBOT_WEBHOOK_TOKEN"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert b"PAGERBOT_WEBHOOK_TOKEN" in err


async def test_serve_refuses_an_invalid_config_and_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text("routes:\n  - match: {a: b}\n    escalate: x\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--config",
        str(tmp_path),
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert "rules/r.yaml:3: routes[0].escalate: unknown key" in err.decode()

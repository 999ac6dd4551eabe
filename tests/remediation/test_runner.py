"""The runner on its own: output cap and digest, HTTP calls against a local server."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.remediation.render import Rendered
from bot.remediation.runner import run_command, run_http


async def test_output_is_capped_but_the_digest_covers_all_of_it() -> None:
    code = "import sys; sys.stdout.write('x' * 100000); sys.exit(3)"
    outcome = await run_command(
        (sys.executable, "-c", code), time_limit=10, env_names=[], limit=1000
    )
    assert outcome.status == "failed" and outcome.exit_code == 3
    assert outcome.output == "x" * 1000 and outcome.truncated
    assert outcome.output_bytes == 100000
    assert outcome.digest == hashlib.sha256(b"x" * 100000).hexdigest()


async def test_a_missing_command_fails_without_a_shell() -> None:
    outcome = await run_command(("no-such-command-x",), time_limit=5, env_names=[])
    assert outcome.status == "failed" and outcome.exit_code is None
    assert outcome.error is not None and "cannot start 'no-such-command-x'" in outcome.error


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def deploy(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path,
                "auth": request.headers.get("Authorization"),
                "body": await request.json(),
            }
        )
        return web.json_response({"deployed": True}, status=202)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/deploy/elsewhere")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/deploy/{name}", deploy)
    app.router.add_post("/moved", moved)
    app.router.add_post("/slow", slow)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_http_action_sends_the_approved_request_with_the_secret_filled_in(
    server: tuple[str, list[dict[str, Any]]],
) -> None:
    base, seen = server
    request = Rendered(
        "http",
        method="POST",
        url=f"{base}/deploy/api",
        headers={"Authorization": "Bearer \x00env:DEPLOY_TOKEN\x00"},
        body={"incident": "INC-7"},
    )
    outcome = await run_http(request, time_limit=5, environ={"DEPLOY_TOKEN": "s3cret"})
    assert outcome.status == "succeeded" and outcome.exit_code == 202
    assert seen == [
        {
            "method": "POST",
            "path": "/deploy/api",
            "auth": "Bearer s3cret",
            "body": {"incident": "INC-7"},
        }
    ]
    assert '"deployed": true' in outcome.output


async def test_http_redirects_are_not_followed_and_slow_calls_time_out(
    server: tuple[str, list[dict[str, Any]]],
) -> None:
    base, seen = server
    moved = await run_http(Rendered("http", method="POST", url=f"{base}/moved"), time_limit=5)
    assert moved.status == "failed" and moved.exit_code == 302 and seen == []
    slow = await run_http(Rendered("http", method="POST", url=f"{base}/slow"), time_limit=0.2)
    assert slow.status == "timed_out" and slow.error == "timed out after 0.2s"

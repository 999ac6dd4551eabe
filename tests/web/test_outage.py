"""A database outage in the middle of a run: 503 while it lasts, nothing lost, recovery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.store import queries
from tests.helpers import am_alert, am_webhook, running_bot

pytestmark = pytest.mark.postgres


class TcpProxy:
    """Forwards a loopback port to PostgreSQL; `cut()` drops every connection, as an outage."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@contextlib.asynccontextmanager
async def proxy() -> AsyncIterator[TcpProxy]:
    p = TcpProxy()
    await p.start()
    try:
        yield p
    finally:
        with contextlib.suppress(Exception):
            await p.cut()


async def test_outage_answers_503_then_recovers(config_dir: Path, postgres_url: str) -> None:
    async with proxy() as px:
        url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{px.port}")
        async with running_bot(config_dir, url) as rb, aiohttp.ClientSession() as http:
            hook = f"{rb.url}/webhooks/alertmanager"
            async with http.post(hook, data=am_webhook(am_alert(alertname="Before"))) as resp:
                assert resp.status == 200
            await px.cut()
            async with http.post(hook, data=am_webhook(am_alert(alertname="During"))) as resp:
                assert resp.status == 503
                assert "database unavailable" in (await resp.json())["error"]
            async with http.get(f"{rb.url}/readyz") as resp:
                assert resp.status == 503
            await px.start()  # same port: the database is back
            async with http.post(hook, data=am_webhook(am_alert(alertname="During"))) as resp:
                assert resp.status == 200  # the sender's retry goes through
            titles = {i.title for i in await rb.bot.store.read(lambda s: queries.incidents(s))}
            assert titles == {"Before", "During"}

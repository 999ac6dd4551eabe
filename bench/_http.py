"""A lean HTTP/1.1 keep-alive client for the load generator.

aiohttp's client spends about 400 µs of CPU per request here, so at 2,000 requests/s
one generator process needs a whole core and the measurement becomes one of the
generator. This client does only what the benchmark needs (POST a body, read the
status and the body by Content-Length, reuse the connection) at a fraction of that;
it is to aiohttp what wrk is to curl.
"""

from __future__ import annotations

import asyncio
import collections


class _Conn(asyncio.Protocol):
    __slots__ = ("buf", "closed", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._check()

    def _check(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        length = 0
        if at >= 0:
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
        if len(self.buf) < end + 4 + length:
            return
        status = int(head[9:12])
        del self.buf[: end + 4 + length]
        self.waiter = None
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("connection closed"))


class Client:
    """POSTs to one URL over at most `limit` pooled connections."""

    def __init__(self, url: str, headers: dict[str, str], limit: int, timeout: float) -> None:
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.host, self.port, self.path = host, int(port or 80), "/" + path
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"POST {self.path} HTTP/1.1\r\nHost: {hostport}\r\n{extra}".encode()
        self.limit = limit
        self.timeout = timeout
        self.idle: collections.deque[_Conn] = collections.deque()
        self.open = 0
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def _acquire(self) -> _Conn:
        while True:
            while self.idle:
                conn = self.idle.pop()
                if not conn.closed:
                    return conn
                self.open -= 1
            if self.open < self.limit:
                self.open += 1
                try:
                    _t, conn = await asyncio.get_running_loop().create_connection(
                        _Conn, self.host, self.port
                    )
                except BaseException:
                    self.open -= 1
                    raise
                return conn
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter

    def _release(self, conn: _Conn, reusable: bool) -> None:
        if reusable and not conn.closed:
            self.idle.append(conn)
        else:
            self.open -= 1
            if conn.transport is not None:
                conn.transport.close()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    async def post(self, body: bytes) -> str:
        """The status code as text, or "timeout" / the error's class name."""
        try:
            async with asyncio.timeout(self.timeout):
                conn = await self._acquire()
                ok = False
                try:
                    waiter = asyncio.get_running_loop().create_future()
                    conn.waiter = waiter
                    assert conn.transport is not None
                    conn.transport.write(
                        self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body
                    )
                    status = await waiter
                    ok = True
                finally:
                    self._release(conn, ok)
            return str(status)
        except TimeoutError:
            return "timeout"
        except OSError as exc:
            return type(exc).__name__

    def close(self) -> None:
        while self.idle:
            conn = self.idle.pop()
            if conn.transport is not None:
                conn.transport.close()

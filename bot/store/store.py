"""The store's face to the async world: one ordered stream of writes, reads on a small
pool."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.incidents.grouping import Item, Plan
from bot.store.engine import checkpoint_wal, create_engine, is_sqlite, migrate
from bot.store.errors import StoreUnavailable
from bot.store.ingest_stream import IngestStream
from bot.store.writer import BatchObserver, Clock, CommitHook, Writer

log = logging.getLogger(__name__)
T = TypeVar("T")
# SQLite: how often the WAL is copied into the database. Every 10 s, a storm's copy
# (250-300 MB) took a core for 0.1-0.3 s and its end held up ingest for 20-50 ms; the
# p99 of webhooks at 10,000 alerts/s was best every 2 s (bench/ingest.py).
CHECKPOINT_SECONDS = 2.0
_RESTART_ATTEMPTS = 3
_COPY_PASSES = 5
_FEW_FRAMES = 64
_RESTART_RETRY_SECONDS = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


def _copy_beside_writes(engine: Engine) -> None:
    """Copy the WAL into the database until little was appended during the last pass:
    what is left for the writer's part holds up ingest. At 10,000 alerts/s that part
    took 2-9 ms after passes down to 256 new frames, 1-4 ms down to 64."""
    frames = 0
    for _ in range(_COPY_PASSES):
        _busy, now, _copied = checkpoint_wal(engine)
        if now - frames < _FEW_FRAMES:
            return
        frames = now


class Store:
    def __init__(
        self,
        url: str,
        *,
        clock: Clock = utcnow,
        observe: BatchObserver | None = None,
        on_commit: CommitHook | None = None,
        ingest_process: bool = True,
    ) -> None:
        self.url = url
        self.clock = clock
        self._observe = observe
        self._on_commit = on_commit
        self._ingest_process = ingest_process
        self._reader: Engine | None = None
        self._writer_engine: Engine | None = None
        self._writer: Writer | IngestStream | None = None
        self._reads: set[asyncio.Future[Any]] = set()
        self.ingest_timeout = 8.0

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        """Connect and migrate; raise StoreUnavailable when the database does not answer."""
        writer_engine = create_engine(self.url, writer=True)
        try:
            await asyncio.to_thread(migrate, writer_engine)
        except SQLAlchemyError as exc:
            writer_engine.dispose()
            raise StoreUnavailable(f"database unavailable: {exc}") from exc
        self._writer_engine = writer_engine
        # On SQLite, readers need their own connections (WAL lets them read during commits).
        self._reader = create_engine(self.url) if is_sqlite(writer_engine) else writer_engine
        if self._ingest_process:
            self._writer = IngestStream(
                self.url, writer_engine, self.clock, self._observe, on_commit=self._on_commit
            )
        else:
            self._writer = Writer(
                writer_engine, self.clock, self._observe, on_commit=self._on_commit
            )
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._reads:
            # A read whose caller was cancelled still runs in its thread; disposing the
            # engine under it would leave its connection open until garbage collection.
            await asyncio.wait(self._reads)
        for engine in {self._reader, self._writer_engine} - {None}:
            assert engine is not None
            engine.dispose()
        self._reader = self._writer_engine = None

    @property
    def ingest_pid(self) -> int | None:
        """The ingest process's pid (None: group commits run on the writer thread)."""
        return self._writer.pid if isinstance(self._writer, IngestStream) else None

    def _require_writer(self) -> Writer | IngestStream:
        if self._writer is None:
            raise StoreUnavailable("the store is not open")
        return self._writer

    async def ingest(self, items: list[Item]) -> Plan:
        """Durably apply alerts; returns once committed (the plan of the whole batch).

        A commit slower than `ingest_timeout` answers StoreUnavailable (503) instead of
        letting Alertmanager cancel at 10 s; if it commits later, the sender's retry is
        a duplicate and changes nothing.
        """
        committed = self._require_writer().ingest(items)
        try:
            async with asyncio.timeout(self.ingest_timeout):
                return await committed
        except TimeoutError:
            raise StoreUnavailable(
                f"commit took longer than {self.ingest_timeout:.0f}s; retry"
            ) from None

    async def write(
        self, fn: Callable[[Connection], T], *, share: bool = False, portable: bool = False
    ) -> T:
        """`fn` in a write transaction; `share`: possibly one shared with other such
        writes queued at the same time (see `Writer.run`).

        `portable`: `fn` may run in the ingest process. It must pickle (a module-level
        function, or a `functools.partial` of one, with plain arguments), return
        something that pickles, and use nothing of the bot process but its arguments.
        The writes made many times a second are: there they need not share the GIL
        with the event loop."""
        return await self._require_writer().run(fn, share=share, portable=portable)

    async def read(self, fn: Callable[[Session], T]) -> T:
        engine = self._reader
        if engine is None:
            raise StoreUnavailable("the store is not open")

        def run() -> T:
            with Session(engine) as session:
                return fn(session)

        pending: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(run))
        self._reads.add(pending)
        pending.add_done_callback(self._read_done)
        try:
            return await asyncio.shield(pending)
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc.orig}") from exc

    def _read_done(self, future: asyncio.Future[Any]) -> None:
        self._reads.discard(future)
        if not future.cancelled():
            future.exception()  # retrieved: a caller that went away leaves no warning

    async def ping(self) -> None:
        await self.read(lambda s: s.exec(sa.select(1)).one())  # type: ignore[call-overload]

    async def checkpoint(self) -> None:
        """SQLite: move the WAL into the database, and let it start over.

        The copying runs on a reader connection, beside the writes. Under steady writes
        that alone never lets the WAL start over, which happens only at a write that
        finds all of it copied and no reader on an older snapshot: at 10,000 alerts/s
        it grew by 28 MB a second, without end. So the writer then copies the little
        appended meanwhile, between two of its writes, waiting a few milliseconds at
        most for older readers to finish; if they do not, it tries again shortly.
        """
        engine = self._reader
        if engine is None or not is_sqlite(engine):
            return
        for attempt in range(_RESTART_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_RESTART_RETRY_SECONDS)
            await asyncio.to_thread(_copy_beside_writes, engine)
            busy, frames, _copied = await self._require_writer().checkpoint()
            if not busy:
                return
        log.info("the WAL (%d frames) did not start over: readers held older snapshots", frames)

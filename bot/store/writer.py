"""The single writer: one thread, one connection, group commit.

Every request's alerts queue here; the thread takes everything that queued while
it was committing and writes it in one transaction, so throughput grows with load
while each webhook still gets its 200 only after its own alerts are on disk.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.incidents.grouping import Item, Plan
from bot.store.ingest import apply_batch

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
BatchObserver = Callable[[Plan, float], None]
_MAX_BATCH_ALERTS = 20_000


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or written; senders should retry (HTTP 503)."""


@dataclass(slots=True)
class _Ingest:
    items: list[Item]
    future: asyncio.Future[Plan]


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Stop:
    done: threading.Event = field(default_factory=threading.Event)


def _unavailable(exc: Exception) -> Exception:
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return StoreUnavailable(f"database unavailable: {exc.orig or exc}")
    return exc


class Writer:
    def __init__(self, engine: Engine, clock: Clock, observe: BatchObserver | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._observe = observe
        self._queue: queue.SimpleQueue[_Ingest | _Job | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pagerbot-writer", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def ingest(self, items: list[Item]) -> asyncio.Future[Plan]:
        """Queue the alerts; the future is settled after their commit. Cancelling it only
        stops the waiting: what is queued is committed all the same."""
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[Plan] = self._loop.create_future()
        self._queue.put(_Ingest(items, future))
        return future

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in its own write transaction on the writer thread."""
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(fn, future))
        return await future

    async def stop(self) -> None:
        """Finish everything queued, then stop; nothing accepted is left half-written."""
        if self._loop is None or self._stopping:
            return
        self._stopping = True
        stop = _Stop()
        self._queue.put(stop)
        await asyncio.to_thread(stop.done.wait)

    def _settle(
        self,
        futures: list[asyncio.Future[Any]],
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Hand the outcome to the waiting requests: one wake-up of the loop for them all."""
        assert self._loop is not None

        def settle() -> None:
            for future in futures:
                if future.done():
                    continue  # the client went away; its data is committed all the same
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

        self._loop.call_soon_threadsafe(settle)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            size = len(first.items) if isinstance(first, _Ingest) else 0
            while size < _MAX_BATCH_ALERTS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(nxt)
                if isinstance(nxt, _Ingest):
                    size += len(nxt.items)
            ingests = [b for b in batch if isinstance(b, _Ingest)]
            if ingests:
                self._ingest(ingests)
            for job in batch:
                if isinstance(job, _Job):
                    self._job(job)
            stops = [b for b in batch if isinstance(b, _Stop)]
            if stops:
                self._drain_after_stop()
                for stop in stops:
                    stop.done.set()
                return

    def _drain_after_stop(self) -> None:
        while True:
            try:
                late = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(late, _Ingest):
                self._ingest([late])
            elif isinstance(late, _Job):
                self._job(late)
            else:
                late.done.set()

    def _ingest(self, requests: list[_Ingest]) -> None:
        items = [item for req in requests for item in req.items]
        started = time.perf_counter()
        try:
            with self._engine.begin() as conn:
                result = apply_batch(conn, items, self._clock())
        except Exception as exc:
            if len(requests) > 1:
                # One bad request must not fail the others that shared its batch.
                for req in requests:
                    self._ingest([req])
                return
            log.warning("ingest of %d alerts failed: %s", len(items), exc)
            self._settle([requests[0].future], error=_unavailable(exc))
            return
        if self._observe is not None:
            self._observe(result, time.perf_counter() - started)
        # Every request of the batch gets the batch's plan; count metrics once, here.
        self._settle([req.future for req in requests], result)

    def _job(self, job: _Job) -> None:
        try:
            with self._engine.begin() as conn:
                result = job.fn(conn)
        except Exception as exc:
            self._settle([job.future], error=_unavailable(exc))
            return
        self._settle([job.future], result)

"""The single writer: one thread, group commit, one write at a time.

Every request's alerts queue here; the thread takes everything that queued while
it was committing and writes it in one transaction, so throughput grows with load
while each webhook still gets its 200 only after its own alerts are on disk. Every
other write runs on this thread's connection too, never two at once, and so does the
end of each WAL checkpoint, between two writes (see `Store.checkpoint`). This is the
one-process store (`PAGERBOT_INGEST_PROCESS=false`); `bot.store.ingest_stream` keeps
the same order with the ingest process.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from bot.incidents.grouping import Item, Plan
from bot.store.engine import checkpoint_wal
from bot.store.errors import StoreUnavailable, unavailable
from bot.store.ingest import apply_batch
from bot.store.ingest_process import MAX_BATCH_ALERTS
from bot.store.jobs import run_jobs

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
BatchObserver = Callable[[Plan, float], None]
CommitHook = Callable[[Plan], None]
# How long a checkpoint may hold up the writes for the readers of older snapshots to
# finish (readers take milliseconds; a long report must not stall ingest).
RESTART_WITHIN_MS = 20


@dataclass(slots=True)
class _Ingest:
    items: list[Item]
    future: asyncio.Future[Plan]


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    share: bool = False


@dataclass(slots=True)
class _Checkpoint:
    future: asyncio.Future[tuple[int, int, int]]
    share: ClassVar[bool] = False  # never shares a transaction: it runs outside one


@dataclass(slots=True)
class _Stop:
    done: threading.Event = field(default_factory=threading.Event)


class Writer:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        observe: BatchObserver | None = None,
        *,
        on_commit: CommitHook | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._observe = observe
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Ingest | _Job | _Checkpoint | _Stop] = queue.SimpleQueue()
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

    async def run(
        self, fn: Callable[[Connection], T], *, share: bool = False, portable: bool = False
    ) -> T:
        """Run `fn` in a write transaction, in order with every other write; with `share`,
        in one transaction with the other shared jobs queued meanwhile (a small write
        done many times a second, independent of the writes around it). `portable`
        matters only to the ingest process (see `Store.write`)."""
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put(_Job(fn, future, share))
        return await future

    async def checkpoint(self) -> tuple[int, int, int]:
        """SQLite: copy what is left of the WAL into the database between two writes, so
        that the next write starts the WAL over (see `Store.checkpoint`); returns
        (busy, frames in the WAL, frames copied)."""
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[tuple[int, int, int]] = self._loop.create_future()
        self._queue.put(_Checkpoint(future))
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
        *,
        first: Callable[[], None] | None = None,
    ) -> None:
        """Hand one outcome to the waiting requests (after `first`, on the loop)."""
        self._settle_each([(future, result, error) for future in futures], first=first)

    def _settle_each(
        self,
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]],
        *,
        first: Callable[[], None] | None = None,
    ) -> None:
        """Hand each waiter its result or its error: one wake-up of the loop for them all."""
        assert self._loop is not None

        def settle() -> None:
            if first is not None:
                try:
                    first()
                except Exception:
                    log.exception("after a commit")
            for future, result, error in outcomes:
                if future.done():
                    continue  # the client went away; its data is committed all the same
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)

        self._loop.call_soon_threadsafe(settle)

    def _run(self) -> None:
        """Each round: commit what ingest queued, then one job (or the shared jobs
        together), then look again. A webhook waits behind at most one other write:
        running every job queued before the next batch made a storm's webhooks wait
        behind a chat claim, an escalation tick and a row of completions at once."""
        jobs: collections.deque[_Job | _Checkpoint] = collections.deque()
        while True:
            batch: list[_Ingest | _Job | _Checkpoint | _Stop] = [] if jobs else [self._queue.get()]
            size = sum(len(b.items) for b in batch if isinstance(b, _Ingest))
            while size < MAX_BATCH_ALERTS:
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
            jobs.extend(b for b in batch if isinstance(b, _Job | _Checkpoint))
            stops = [b for b in batch if isinstance(b, _Stop)]
            if stops:
                while jobs:
                    self._next_jobs(jobs)
                self._drain_after_stop()
                for stop in stops:
                    stop.done.set()
                return
            if jobs:
                self._next_jobs(jobs)

    def _next_jobs(self, jobs: collections.deque[_Job | _Checkpoint]) -> None:
        """The next job; if it is shared, every shared job waiting, in one transaction."""
        if not jobs[0].share:
            first = jobs.popleft()
            if isinstance(first, _Checkpoint):
                self._checkpoint(first)
            else:
                self._jobs([first])
            return
        shared = [job for job in jobs if isinstance(job, _Job) and job.share]
        rest = [job for job in jobs if not (isinstance(job, _Job) and job.share)]
        jobs.clear()
        jobs.extend(rest)
        self._jobs(shared, together=len(shared) > 1)

    def _drain_after_stop(self) -> None:
        while True:
            try:
                late = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(late, _Ingest):
                self._ingest([late])
            elif isinstance(late, _Job):
                self._jobs([late])
            elif isinstance(late, _Checkpoint):
                self._checkpoint(late)
            else:
                late.done.set()

    def _ingest(self, requests: list[_Ingest]) -> None:
        try:
            result, seconds = self._apply(requests)
        except Exception as exc:
            if len(requests) > 1:
                # One bad request must not fail the others that shared its batch.
                for req in requests:
                    self._ingest([req])
                return
            log.warning("ingest of %d alerts failed: %s", len(requests[0].items), exc)
            self._settle([requests[0].future], error=unavailable(exc))
            return
        # Every request of the batch gets the batch's plan: what follows from the plan
        # (metrics; waking chat, escalation and automatic actions) happens once, on the
        # event loop, not once per request that shared the batch.
        observe, hook = self._observe, self._on_commit

        def first() -> None:
            if observe is not None:
                observe(result, seconds)
            if hook is not None:
                hook(result)

        self._settle([req.future for req in requests], result, first=first)

    def _apply(self, requests: list[_Ingest]) -> tuple[Plan, float]:
        items = [item for req in requests for item in req.items]
        started = time.perf_counter()
        with self._engine.begin() as conn:
            result = apply_batch(conn, items, self._clock())
        return result, time.perf_counter() - started

    def _checkpoint(self, request: _Checkpoint) -> None:
        try:
            outcome = checkpoint_wal(self._engine, restart_within_ms=RESTART_WITHIN_MS)
        except Exception as exc:
            self._settle([request.future], error=unavailable(exc))
            return
        self._settle([request.future], outcome)

    def _jobs(self, jobs: list[_Job], *, together: bool = False) -> None:
        """Each in its own transaction, or (`together`) in one, see `run_jobs`."""
        results = run_jobs(self._engine, [job.fn for job in jobs], together=together)
        self._settle_each(
            [
                (job.future, value if ok else None, None if ok else unavailable(value))
                for job, (ok, value) in zip(jobs, results, strict=True)
            ]
        )

"""The single writer: group commit, one write at a time, in the order they came.

Every request's alerts queue here; each round takes everything that queued while the
last one was committing and writes it in one transaction, so throughput grows with
load while each webhook still gets its 200 only after its own alerts are on disk.
Group commits and portable jobs go to the ingest process when there is one (a second
core), other writes to the writer thread and its connection; never two at once.

The rounds are driven from the event loop. With the ingest process they need no
thread of their own: a writer thread woke several times a round (send, receive, wake
the loop), and each time waited for the GIL behind the event loop, which cost about a
millisecond a batch at 10,000 alerts/s, a quarter of the writer's time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from bot.incidents.grouping import Item, Plan
from bot.store.errors import StoreUnavailable, unavailable
from bot.store.ingest import apply_batch
from bot.store.ingest_process import IngestProcess
from bot.store.jobs import run_jobs

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
BatchObserver = Callable[[Plan, float], None]
_MAX_BATCH_ALERTS = 20_000


@dataclass(slots=True)
class _Ingest:
    items: list[Item]
    future: asyncio.Future[Plan]


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    share: bool = False
    portable: bool = False


Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]


class Writer:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        observe: BatchObserver | None = None,
        *,
        process: IngestProcess | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._observe = observe
        self._process = process  # group commits go there; None: on the writer thread
        self._queue: collections.deque[_Ingest | _Job] = collections.deque()
        self._queued = asyncio.Event()
        # The writer connection's one thread: group commits without an ingest process,
        # and the writes that are not portable.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pagerbot-writer")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="pagerbot-writer")

    def ingest(self, items: list[Item]) -> asyncio.Future[Plan]:
        """Queue the alerts; the future is settled after their commit. Cancelling it only
        stops the waiting: what is queued is committed all the same."""
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[Plan] = self._loop.create_future()
        self._queue.append(_Ingest(items, future))
        self._queued.set()
        return future

    async def run(
        self, fn: Callable[[Connection], T], *, share: bool = False, portable: bool = False
    ) -> T:
        """Run `fn` in a write transaction, in order with every other write; with `share`,
        in one transaction with the other shared jobs queued meanwhile (a small write
        done many times a second, independent of the writes around it); `portable`: in
        the ingest process when there is one (see `Store.write`)."""
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.append(_Job(fn, future, share, portable))
        self._queued.set()
        return await future

    async def stop(self) -> None:
        """Finish everything queued, then stop; nothing accepted is left half-written."""
        if self._task is None or self._stopping:
            return
        self._stopping = True
        self._queued.set()
        await asyncio.shield(self._task)
        if self._process is not None:
            await asyncio.to_thread(self._process.close)
        await asyncio.to_thread(self._thread.shutdown)

    @staticmethod
    def _settle_each(outcomes: list[Outcome]) -> None:
        """Hand each waiter its result or its error."""
        for future, result, error in outcomes:
            if future.done():
                continue  # the client went away; its data is committed all the same
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def _run(self) -> None:
        """Each round: commit what ingest queued, then one job (or the shared jobs
        together), then look again. A webhook waits behind at most one other write:
        running every job queued before the next batch made a storm's webhooks wait
        behind a chat claim, an escalation tick and a row of completions at once."""
        jobs: collections.deque[_Job] = collections.deque()
        while True:
            if not self._queue and not jobs:
                if self._stopping:
                    return
                self._queued.clear()
                await self._queued.wait()
                continue
            ingests: list[_Ingest] = []
            size = 0
            while self._queue and size < _MAX_BATCH_ALERTS:
                queued = self._queue.popleft()
                if isinstance(queued, _Ingest):
                    ingests.append(queued)
                    size += len(queued.items)
                else:
                    jobs.append(queued)
            try:
                if ingests:
                    await self._ingest(ingests)
                if jobs:
                    await self._next_jobs(jobs)
            except Exception:  # a bug of ours: the writer must go on for the others
                log.exception("writer round failed")

    async def _next_jobs(self, jobs: collections.deque[_Job]) -> None:
        """The next job; if it is shared, every shared job waiting, in one transaction."""
        if not jobs[0].share:
            await self._jobs([jobs.popleft()])
            return
        shared = [job for job in jobs if job.share]
        rest = [job for job in jobs if not job.share]
        jobs.clear()
        jobs.extend(rest)
        await self._jobs(shared, together=len(shared) > 1)

    async def _ingest(self, requests: list[_Ingest]) -> None:
        items = [item for req in requests for item in req.items]
        try:
            result, seconds = await self._apply(items)
        except Exception as exc:
            if len(requests) > 1:
                # One bad request must not fail the others that shared its batch.
                for req in requests:
                    await self._ingest([req])
                return
            log.warning("ingest of %d alerts failed: %s", len(items), exc)
            self._settle_each([(requests[0].future, None, unavailable(exc))])
            return
        if self._observe is not None:
            self._observe(result, seconds)
        # Every request of the batch gets the batch's plan; count metrics once, here.
        self._settle_each([(req.future, result, None) for req in requests])

    async def _apply(self, items: list[Item]) -> tuple[Plan, float]:
        if self._process is not None:
            return await self._process.apply(items, self._clock())
        return await self._on_thread(self._apply_here, items, self._clock())

    def _apply_here(self, items: list[Item], now: datetime) -> tuple[Plan, float]:
        started = time.perf_counter()
        with self._engine.begin() as conn:
            result = apply_batch(conn, items, now)
        return result, time.perf_counter() - started

    async def _on_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._thread, partial(fn, *args, **kwargs))

    async def _jobs(self, jobs: list[_Job], *, together: bool = False) -> None:
        """Each in its own transaction, or (`together`) in one, see `run_jobs`. Portable
        jobs run in the ingest process, where no GIL is shared with the event loop: on
        the writer thread a job's every statement waited for the GIL again, and a write
        took about three times its CPU. Others on the writer thread and connection."""
        if self._process is not None and all(job.portable for job in jobs):
            try:
                outcomes = await self._process.run([job.fn for job in jobs], together=together)
            except Exception as exc:
                self._settle_each([(job.future, None, unavailable(exc)) for job in jobs])
                return
            settled = [
                (job.future, value if kind == "ok" else None, _outcome_error(kind, value))
                for job, (kind, value) in zip(jobs, outcomes, strict=True)
            ]
        else:
            results = await self._on_thread(
                run_jobs, self._engine, [job.fn for job in jobs], together=together
            )
            settled = [
                (job.future, value if ok else None, None if ok else unavailable(value))
                for job, (ok, value) in zip(jobs, results, strict=True)
            ]
        self._settle_each(settled)


def _outcome_error(kind: str, value: Any) -> BaseException | None:
    if kind == "ok":
        return None
    return StoreUnavailable(value) if kind == "unavailable" else value

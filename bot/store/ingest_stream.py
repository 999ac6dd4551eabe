"""The bot's end of the ingest process: every write is sent the moment it is queued.

Each webhook's alerts go into the process's socket from the event loop, while the
handler still runs; the process commits whatever has arrived when it finishes its
last commit (see `bot.store.ingest_process`), and the answers come back to the event
loop. Before, a writer thread took the queue, sent a batch and waited for its answer:
the process idled while the thread prepared and sent each batch, and every step of
the thread first had to win the GIL back from the event loop (about 12 ms of a 30 ms
round at 128 connections, and more threads did not shorten it). Now the process
waits only when nothing has arrived.

Writes that are not portable run on the bot's own connection, in a thread, while the
process is held at a barrier: they see every webhook sent before them, and the
process writes nothing while they run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from bot.incidents.grouping import Item, Plan
from bot.rules.model import RulesConfig
from bot.rules.router import RouteDecision
from bot.store import ingest_process
from bot.store.errors import StoreUnavailable, unavailable
from bot.store.ingest_process import (
    READ_SIZE,
    SOCKET_BUFFER,
    decode_plan,
    encode_request,
    frame,
    outcome_error,
    pickle_job,
    split_frames,
)
from bot.store.jobs import run_jobs
from bot.store.writer import RESTART_WITHIN_MS, BatchObserver, Clock, CommitHook

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP_SECONDS = 10.0
# Routes are sent once and named by id() after that; a new configuration brings new
# ones, so the names are forgotten on both sides past this many.
_MAX_ROUTES_SENT = 4096
_SENDMSG_PARTS = 256


@dataclass(slots=True)
class _Local:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    share: bool


class IngestStream:
    """Same face as `Writer`: ingest, run, checkpoint, stop."""

    def __init__(
        self,
        url: str,
        engine: Engine,
        clock: Clock,
        observe: BatchObserver | None = None,
        *,
        on_commit: CommitHook | None = None,
    ) -> None:
        self._url = url
        self._engine = engine  # for the writes that are not portable
        self._clock = clock
        self._observe = observe
        self._on_commit = on_commit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._inbox = bytearray()
        self._backlog: collections.deque[memoryview] = collections.deque()
        self._ids = itertools.count(1)
        # What the process has not answered yet, by message id.
        self._ingests: dict[int, asyncio.Future[Plan]] = {}
        self._jobs: dict[int, asyncio.Future[Any]] = {}
        self._routes_sent: dict[int, RouteDecision] = {}
        self._rules_sent: dict[int, RulesConfig] = {}
        self._stopped: asyncio.Future[None] | None = None
        # Writes on the bot's connection: queued, then run one (or the shared ones) at
        # each barrier the process reaches.
        self._local: collections.deque[_Local] = collections.deque()
        self._barrier: int | None = None  # the barrier asked for and not yet reached
        self._local_running = False
        self._local_idle: asyncio.Event | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process now (its imports overlap the bot's start)."""
        self._loop = asyncio.get_running_loop()
        self._local_idle = asyncio.Event()
        self._local_idle.set()
        self._ensure()

    def ingest(self, items: list[Item]) -> asyncio.Future[Plan]:
        """Send the alerts; the future is settled after their commit. Cancelling it only
        stops the waiting: what is sent is committed all the same."""
        loop = self._open()
        future: asyncio.Future[Plan] = loop.create_future()
        rows, routes = encode_request(items)
        new = {key: route for key, route in routes.items() if key not in self._routes_sent}
        if new and len(self._routes_sent) + len(new) > _MAX_ROUTES_SENT:
            self._routes_sent.clear()
            self._send(("f",))
            new = routes
        self._routes_sent.update(new)
        rid = next(self._ids)
        self._ingests[rid] = future
        self._send(("i", rid, self._clock(), new, rows))
        return future

    async def run(
        self, fn: Callable[[Connection], T], *, share: bool = False, portable: bool = False
    ) -> T:
        """`fn` in a write transaction, in order with every other write (see
        `Store.write`): portable ones in the process, others here at a barrier."""
        loop = self._open()
        future: asyncio.Future[T] = loop.create_future()
        if portable:
            blob = pickle_job(fn, self._rules_sent)  # one that does not pickle raises here
            jid = next(self._ids)
            self._jobs[jid] = future
            self._send(("j", jid, share, blob))
        else:
            self._local.append(_Local(fn, future, share))
            self._ask_barrier()
        return await future

    async def checkpoint(self) -> tuple[int, int, int]:
        """SQLite: the writer's part of a checkpoint, between two writes (see
        `Store.checkpoint`); returns (busy, frames in the WAL, frames copied)."""
        loop = self._open()
        future: asyncio.Future[tuple[int, int, int]] = loop.create_future()
        cid = next(self._ids)
        self._jobs[cid] = future
        self._send(("c", cid, RESTART_WITHIN_MS))
        return await future

    async def stop(self) -> None:
        """Let everything sent be committed and answered, then end the process."""
        if self._loop is None or self._stopping:
            return
        self._stopping = True
        assert self._local_idle is not None
        while not self._local_done():
            self._local_idle.clear()
            await self._local_idle.wait()
        process = self._process
        if self._sock is not None:
            self._stopped = self._loop.create_future()
            self._send(("s",))
            with contextlib.suppress(StoreUnavailable):
                await self._stopped
        self._lost()
        if process is not None:
            await asyncio.to_thread(_reap, process)

    # --- sending

    def _open(self) -> asyncio.AbstractEventLoop:
        if self._stopping or self._loop is None:
            raise StoreUnavailable("the store is shutting down")
        return self._loop

    def _send(self, message: tuple[Any, ...]) -> None:
        """Into the socket now if it has room (it usually has: 4 MB); what does not fit
        goes out when the process has read more."""
        sock = self._ensure()
        data = memoryview(frame(message))
        if self._backlog:
            self._backlog.append(data)
            return
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost()
            return
        if sent < len(data):
            self._backlog.append(data[sent:])
            assert self._loop is not None
            self._loop.add_writer(sock.fileno(), self._flush)

    def _flush(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while self._backlog:
            parts = list(itertools.islice(self._backlog, _SENDMSG_PARTS))
            try:
                sent = sock.sendmsg(parts)
            except BlockingIOError:
                return
            except OSError:
                self._lost()
                return
            for part in parts:
                if sent < len(part):
                    self._backlog[0] = part[sent:]
                    return
                sent -= len(part)
                self._backlog.popleft()
        assert self._loop is not None
        self._loop.remove_writer(sock.fileno())

    def _ensure(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        assert self._loop is not None
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        command = [sys.executable, "-P", "-c", f"import {ingest_process.__name__} as m; m.main()"]
        try:
            # Its own session: Ctrl-C in the bot's terminal is the bot's to handle.
            process = subprocess.Popen(
                [*command, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise StoreUnavailable(f"cannot start the ingest process: {exc}") from exc
        finally:
            theirs.close()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        ours.setblocking(False)
        self._process, self._sock = process, ours
        self._loop.add_reader(ours.fileno(), self._readable)
        self._send(("u", self._url))  # not on the command line: it may hold a password
        return ours

    # --- answers

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._answer(split_frames(self._inbox))
                self._lost()
                return
            self._inbox += data
            if len(data) < READ_SIZE:
                break
        self._answer(split_frames(self._inbox))

    def _answer(self, messages: list[Any]) -> None:
        for message in messages:
            kind = message[0]
            if kind == "i":
                for ids, (outcome, value) in message[1]:
                    self._committed(ids, outcome, value)
            elif kind == "j":
                for jid, (outcome, value) in message[1]:
                    self._settle(self._jobs.pop(jid, None), outcome, value)
            elif kind == "c":
                self._settle(self._jobs.pop(message[1], None), *message[2])
            elif kind == "b":
                if message[1] == self._barrier:
                    self._barrier = None
                    self._run_local()
            elif kind == "s" and self._stopped is not None and not self._stopped.done():
                self._stopped.set_result(None)

    def _committed(self, ids: list[int], outcome: str, value: Any) -> None:
        futures = [self._ingests.pop(rid, None) for rid in ids]
        if outcome == "ok":
            plan, seconds = decode_plan(value)
            # Every request of the batch gets the batch's plan: what follows from the
            # plan (metrics; waking chat, escalation and automatic actions) happens
            # once, not once per request that shared the batch. A hook that fails must
            # not leave the batch's senders waiting.
            try:
                if self._observe is not None:
                    self._observe(plan, seconds)
                if self._on_commit is not None:
                    self._on_commit(plan)
            except Exception:
                log.exception("after a commit")
            for future in futures:
                if future is not None and not future.done():
                    future.set_result(plan)
            return
        if outcome == "failed":
            log.warning("ingest failed: %s", value)
        for future in futures:
            self._settle(future, outcome, value)

    @staticmethod
    def _settle(future: asyncio.Future[Any] | None, outcome: str, value: Any) -> None:
        if future is None or future.done():
            return  # the client went away; its write is done all the same
        error = outcome_error(outcome, value)
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def _lost(self) -> None:
        """The process died or hung up: whether what it had not answered was committed
        is unknown, so those senders are told to retry (an ingest retry is a duplicate
        and changes nothing; an outbox claim expires and is claimed again). The next
        write starts a new process."""
        process, sock = self._process, self._sock
        if sock is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(sock.fileno())
        if self._backlog:
            self._loop.remove_writer(sock.fileno())
        sock.close()
        self._sock = None
        self._backlog.clear()
        self._inbox.clear()
        self._routes_sent.clear()  # a new process has none of them
        self._rules_sent.clear()
        code = process.poll() if process is not None else None
        if not self._stopping:
            log.warning("ingest process exited (code %s); the next write starts another", code)
        error = StoreUnavailable(f"the ingest process exited (code {code}); retry")
        waiting = [*self._ingests.values(), *self._jobs.values()]
        self._ingests.clear()
        self._jobs.clear()
        for future in waiting:
            if not future.done():
                future.set_exception(error)
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_exception(error)
        self._process = None
        if process is not None and not self._stopping:
            # A process that lost its socket ends on its own, at once or after the
            # write it is in; it is reaped off the event loop.
            self._loop.run_in_executor(None, _reap, process)
        if self._barrier is not None:
            # The writes waiting for it did not run; they are told to retry too,
            # rather than start process after process while the database is down.
            self._barrier = None
            waiting_here = list(self._local)
            self._local.clear()
            for job in waiting_here:
                if not job.future.done():
                    job.future.set_exception(error)
        self._idle_check()

    # --- writes on the bot's own connection

    def _ask_barrier(self) -> None:
        if self._local and self._barrier is None and not self._local_running:
            self._barrier = next(self._ids)
            self._send(("b", self._barrier))

    def _run_local(self) -> None:
        """At a barrier: the next write (or every shared one waiting) on the bot's
        connection, then resume the process."""
        if not self._local:
            self._send(("r",))
            return
        if self._local[0].share:
            jobs = [job for job in self._local if job.share]
            for job in jobs:
                self._local.remove(job)
        else:
            jobs = [self._local.popleft()]
        self._local_running = True
        task = asyncio.ensure_future(self._run_local_jobs(jobs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_local_jobs(self, jobs: list[_Local]) -> None:
        sock = self._sock
        try:
            results = await asyncio.to_thread(
                run_jobs, self._engine, [job.fn for job in jobs], together=len(jobs) > 1
            )
        except Exception as exc:  # run_jobs returns failures; this is the thread pool's
            results = [(False, exc)] * len(jobs)
        finally:
            self._local_running = False
        for job, (ok, value) in zip(jobs, results, strict=True):
            if not job.future.done():
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(unavailable(value))
        if sock is not None and sock is self._sock:
            self._send(("r",))
        self._ask_barrier()
        self._idle_check()

    def _local_done(self) -> bool:
        return not self._local and not self._local_running and self._barrier is None

    def _idle_check(self) -> None:
        if self._local_idle is not None and self._local_done():
            self._local_idle.set()


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

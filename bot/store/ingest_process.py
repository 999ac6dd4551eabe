"""Group commits applied in a process of their own, so ingest can use a second core.

The GIL keeps one process on one core: at about 12,000 alerts/s the bot filled
one, and planning and writing batches were 40 % of it. The writer thread now hands
each group commit, and each write marked portable, to this process and waits for its
answer without holding the GIL, so ingest and the writer's other jobs still run
strictly one after another, as on one connection.

The process is a plain `python -P` subprocess that imports only what it runs,
with the bot's own module path (never the working directory's: a clone of another
version there must not be what it runs). It starts with the store, so its imports
overlap the bot's start. It runs in a session of its own (Ctrl-C in the bot's
terminal does not reach it) and ignores SIGINT and SIGTERM: it ends when told, after
the last queued batch, or when the bot's end of its socket closes.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from operator import attrgetter
from typing import Any, cast

from bot.gc_tuning import tune_gc
from bot.incidents.grouping import Event, Item, Plan, Verdict
from bot.ingest.alert import Alert
from bot.rules.model import RulesConfig
from bot.rules.mute import Mute
from bot.rules.router import RouteDecision
from bot.store.engine import checkpoint_wal, create_engine
from bot.store.errors import IngestFailed, StoreUnavailable, unavailable
from bot.store.ingest import apply_batch, incident_state, incident_values
from bot.store.jobs import Job, run_jobs

log = logging.getLogger(__name__)
_STOP_SECONDS = 10.0
# The modules of the jobs the bot marks portable (bot/notify/dispatcher.py,
# bot/app.py's escalation tick).
_JOB_MODULES = ("bot.store.outbox", "bot.escalation.targets")


# The wire format: tuples of built-in types, which pickle in C. Pickling the
# dataclasses themselves cost the bot more CPU than the batch's whole plan and write.
# Sending the webhook bodies instead, parsed again here, saved the bot 3.7 µs an alert
# and cost this process 5.1 (bench/ingest_phases.py), with no gain in interleaved runs.
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
Encoded = tuple[bytes, dict[int, RouteDecision]]  # a request: its pickled rows, its routes
Request = tuple[datetime, dict[int, RouteDecision], list[bytes]]  # a batch
Reply = tuple[float, list[tuple[Any, ...]], list[tuple[int, str, str]], list[str]]


_alert_fields = attrgetter(
    "labels",
    "annotations",
    "status",
    "starts_at",
    "ends_at",
    "generator_url",
    "fingerprint",
    "source",
    "sender_group_key",
)


def encode_request(items: list[Item]) -> Encoded:
    """One request's alerts as the ingest process reads them, pickled on the event loop
    as the request comes in: the writer's round then only joins them. Pickling a whole
    batch there, sharing the GIL with the event loop, took 6-8 ms of its round at 128
    connections, and the ingest process waited meanwhile. Routes are named by id(): a
    decision's own hash is slow, and the items keep them alive until the batch is in."""
    routes: dict[int, RouteDecision] = {}
    rows = []
    for item in items:
        mute = item.mute
        key = id(item.route)
        if key not in routes:
            routes[key] = item.route
        rows.append(
            (
                *_alert_fields(item.alert),
                item.group_key,
                key,
                mute.ref if mute else None,
                mute.text if mute else None,
            )
        )
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL), routes


def batch_message(requests: list[Encoded], now: datetime) -> Request:
    routes: dict[int, RouteDecision] = {}
    for _, used in requests:
        routes.update(used)
    return now, routes, [rows for rows, _ in requests]


def decode_batch(message: Request) -> tuple[list[Item], datetime]:
    now, routes, blobs = message
    items = [
        Item(
            Alert(*r[:9]),
            r[9],
            routes[r[10]],
            Mute(r[11], r[12]) if r[11] is not None else None,
        )
        for rows in blobs
        for r in pickle.loads(rows)
    ]
    return items, now


def encode_plan(plan: Plan, seconds: float) -> Reply:
    """What the bot uses of a committed plan: its incidents, events and verdicts. The
    alert rows and the events' data stay here; they are in the database."""
    index = {id(inc): i for i, inc in enumerate(plan.incidents)}
    incidents = [incident_values(inc) for inc in plan.incidents]
    events = [(index[id(e.incident)], e.kind, e.text) for e in plan.events]
    return seconds, incidents, events, [v.value for v in plan.verdicts]


def _as_is(value: datetime | None) -> datetime | None:
    return value


def decode_plan(reply: Reply) -> tuple[Plan, float]:
    seconds, rows, events, verdicts = reply
    incidents = [incident_state(row, _as_is) for row in rows]
    return (
        Plan(
            incidents=incidents,
            alerts=[],
            events=[Event(incidents[i], kind, text, {}) for i, kind, text in events],
            verdicts=[_VERDICTS[v] for v in verdicts],
        ),
        seconds,
    )


# Jobs: other writes that run here when they are marked portable (see `Store.write`).
Outcome = tuple[str, Any]  # ("ok", result) | ("unavailable", text) | ("failed", exception)
JobsMessage = tuple[str, bool, list[bytes]]  # ("jobs", together, pickled jobs)


class _JobPickler(pickle.Pickler):
    """Pickles a job. The rules cross once and are named by their id after that: every
    escalation tick carries them, and a large configuration costs more to pickle than
    the tick costs to run."""

    def __init__(self, file: io.BytesIO, sent: dict[int, RulesConfig]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._sent = sent

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) is not RulesConfig:
            return None
        key = id(obj)
        if key in self._sent:
            return ("sent", key)
        self._sent.clear()  # one configuration is current; an old one is not sent again
        self._sent[key] = obj  # held, so that its id is not reused while named by it
        return ("new", key, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


class _JobUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, cache: dict[int, RulesConfig]) -> None:
        super().__init__(io.BytesIO(data))
        self._cache = cache

    def persistent_load(self, pid: Any) -> Any:
        if pid[0] == "new":
            self._cache.clear()
            self._cache[pid[1]] = pickle.loads(pid[2])
        return self._cache[pid[1]]


def _failure(exc: Exception) -> Outcome:
    """A job's exception as the bot will raise it: the database's as StoreUnavailable,
    others as themselves when they pickle (callers may catch them), else as text."""
    error = unavailable(exc)
    if isinstance(error, StoreUnavailable):
        return ("unavailable", str(error))
    try:
        pickle.dumps(error)
    except Exception:
        return ("failed", IngestFailed(f"{type(exc).__name__}: {exc}"))
    return ("failed", error)


def _serve(pipe: Pipe, url: str) -> None:
    """The process: apply each batch received in one transaction (or run the jobs
    received), answer, repeat."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    engine = create_engine(url, writer=True)
    rules: dict[int, RulesConfig] = {}
    try:
        while True:
            try:
                message: Request | JobsMessage | tuple[str, int] | None = pipe.recv()
            except EOFError:
                return  # the bot is gone
            if message is None:
                return
            if message[0] == "jobs":
                pipe.send_bytes(_serve_jobs(engine, rules, cast(JobsMessage, message)))
            elif message[0] == "checkpoint":
                pipe.send(_serve_checkpoint(engine, cast(tuple[str, int], message)[1]))
            else:
                pipe.send(_serve_batch(engine, cast(Request, message)))
    finally:
        engine.dispose()


def _serve_jobs(engine: Any, rules: dict[int, RulesConfig], message: JobsMessage) -> bytes:
    """The jobs' outcomes, pickled."""
    _, together, blobs = message
    try:
        jobs = [_JobUnpickler(blob, rules).load() for blob in blobs]
    except Exception as exc:
        outcomes = [_failure(exc)] * len(blobs)
    else:
        outcomes = [
            ("ok", value) if ok else _failure(value)
            for ok, value in run_jobs(engine, jobs, together=together)
        ]
    try:
        return pickle.dumps(outcomes, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a result that does not pickle: a bug of ours
        failed = ("failed", IngestFailed(f"a job's result did not pickle: {exc}"))
        return pickle.dumps([failed] * len(blobs), pickle.HIGHEST_PROTOCOL)


def _serve_checkpoint(engine: Any, restart_within_ms: int) -> tuple[str, Any]:
    try:
        return ("ok", checkpoint_wal(engine, restart_within_ms=restart_within_ms))
    except Exception as exc:
        return ("unavailable", str(unavailable(exc)))


def _serve_batch(engine: Any, request: Request) -> tuple[str, Any]:
    started = time.perf_counter()
    try:
        items, now = decode_batch(request)
        with engine.begin() as conn:
            result = apply_batch(conn, items, now)
        return ("ok", encode_plan(result, time.perf_counter() - started))
    except Exception as exc:
        # Exceptions of database drivers do not always pickle: send their text.
        error = unavailable(exc)
        if isinstance(error, StoreUnavailable):
            return ("unavailable", str(error))
        return ("failed", f"{type(exc).__name__}: {exc}")


class IngestProcess:
    """The bot's end of the ingest process; used by the writer thread only."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: Pipe | None = None
        self._rules_sent: dict[int, RulesConfig] = {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process now rather than on the first batch."""
        self._ensure()

    def apply(self, requests: list[Encoded], now: datetime) -> tuple[Plan, float]:
        """Plan, write and commit one batch there (the requests `encode_request` made);
        returns the plan and its seconds."""
        reply: tuple[Any, ...] = self._exchange(batch_message(requests, now))
        if reply[0] == "ok":
            return decode_plan(reply[1])
        if reply[0] == "unavailable":
            raise StoreUnavailable(reply[1])
        raise IngestFailed(reply[1])

    def checkpoint(self, restart_within_ms: int) -> tuple[int, int, int]:
        """SQLite: `checkpoint_wal` on the process's connection, between two writes."""
        reply: tuple[str, Any] = self._exchange(("checkpoint", restart_within_ms))
        if reply[0] == "ok":
            return cast(tuple[int, int, int], reply[1])
        raise StoreUnavailable(reply[1])

    def run(self, jobs: list[Job], *, together: bool) -> list[Outcome]:
        """Run write jobs there, each in its own transaction or (`together`) in one;
        returns each one's outcome. A job that does not pickle raises here, before
        anything is sent."""
        blobs = []
        for job in jobs:
            buffer = io.BytesIO()
            _JobPickler(buffer, self._rules_sent).dump(job)
            blobs.append(buffer.getvalue())
        outcomes: list[Outcome] = self._exchange(("jobs", together, blobs))
        return outcomes

    def _exchange(self, message: Any) -> Any:
        """Send one message and wait for its answer."""
        try:
            pipe = self._ensure()
            pipe.send(message)
            return pipe.recv()
        except (EOFError, OSError) as exc:
            code = self._process.poll() if self._process is not None else None
            self._discard()
            # Whether it committed is unknown: a retry is a duplicate, which changes nothing.
            raise StoreUnavailable(f"the ingest process exited (code {code}); retry") from exc

    def _ensure(self) -> Pipe:
        if self._process is not None and self._process.poll() is not None:
            log.warning(
                "ingest process exited (code %s); starting another", self._process.returncode
            )
            self._discard()
        if self._pipe is None:
            ours, theirs = socket.socketpair()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            command = [sys.executable, "-P", "-c", f"import {__name__} as m; m.main()"]
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
            pipe = Pipe(ours.detach())
            pipe.send(self._url)  # not on the command line: it may hold a password
            self._process, self._pipe = process, pipe
        return self._pipe

    def _discard(self) -> None:
        """Hang up and reap: a process that lost its socket ends on its own, at once or
        after the batch it is in."""
        if self._pipe is not None:
            self._pipe.close()
        if self._process is not None:
            try:
                self._process.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = self._pipe = None
        self._rules_sent.clear()  # a new process has none of them

    def close(self) -> None:
        """Ask the process to end after what it is doing; kill it if it does not."""
        process, pipe = self._process, self._pipe
        if process is None or pipe is None:
            return
        with contextlib.suppress(OSError):
            pipe.send(None)
        self._discard()


def main() -> None:
    """The process's entry: its socket's descriptor is the last argument."""
    tune_gc()
    pipe = Pipe(int(sys.argv[-1]))
    # Now, while the bot starts, rather than in the first job: importing them there
    # held up the webhooks queued behind it for a quarter of a second.
    for module in _JOB_MODULES:
        importlib.import_module(module)
    try:
        url: str = pipe.recv()
    except EOFError:
        return
    _serve(pipe, url)

"""The ingest process: group commits in a process of their own, on a second core.

The GIL keeps one process on one core: at about 12,000 alerts/s the bot filled one,
and planning and writing batches were 40 % of it. The bot sends each webhook's
alerts here the moment the webhook is queued (see `bot.store.ingest_stream`); this
process takes everything that has arrived when it finishes a commit, commits it as
one transaction, answers, and looks again. The portable writes (`Store.write`) and
the end of each WAL checkpoint run here too, in order with the batches, one at a
time: this process is the only writer while it runs.

The process is a plain `python -P` subprocess that imports only what it runs,
with the bot's own module path (never the working directory's: a clone of another
version there must not be what it runs). It starts with the store, so its imports
overlap the bot's start. It runs in a session of its own (Ctrl-C in the bot's
terminal does not reach it) and ignores SIGINT and SIGTERM: it ends when told, after
the last queued write, or when the bot's end of its socket closes.
"""

from __future__ import annotations

import collections
import importlib
import io
import logging
import pickle
import signal
import socket
import struct
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import Any

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
MAX_BATCH_ALERTS = 20_000
# The modules of the jobs the bot marks portable (bot/notify/dispatcher.py,
# bot/app.py's escalation tick).
_JOB_MODULES = ("bot.store.outbox", "bot.escalation.targets")
# Both ends ask for this much room in the socket (Linux caps it at net.core.wmem_max):
# what the bot queued while the event loop is busy is already here to be committed.
SOCKET_BUFFER = 4 * 1024 * 1024
READ_SIZE = 1024 * 1024  # bytes a read takes from the socket at most


# The wire format: tuples of built-in types, which pickle in C. Pickling the
# dataclasses themselves cost the bot more CPU than the batch's whole plan and write.
# Sending the webhook bodies instead, parsed again here, saved the bot 3.7 µs an alert
# and cost this process 5.1 (bench/ingest_phases.py), with no gain in interleaved runs.
_VERDICTS = {verdict.value: verdict for verdict in Verdict}
Rows = list[tuple[Any, ...]]
Routes = dict[int, RouteDecision]
Reply = tuple[float, list[tuple[Any, ...]], list[tuple[int, str, str]], list[str]]
Outcome = tuple[str, Any]  # ("ok", result) | ("unavailable", text) | ("failed", exception)

# Messages, bot to process (a 4-byte length, then a pickled tuple):
#   ("i", id, now, new routes, rows)  a webhook's alerts
#   ("j", id, share, pickled job)     a portable write
#   ("c", id, restart_within_ms)      the writer's part of a WAL checkpoint
#   ("b", id) then ("r",)             a barrier: answer, write nothing until resumed
#   ("f",)                            forget the routes sent so far
#   ("s",)                            stop after everything before it
# and back:
#   ("i", [(ids, outcome)])  ("j", [(id, outcome)])  ("c", id, outcome)  ("b", id)  ("s",)
_HEADER = struct.Struct("<I")


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


def encode_request(items: list[Item]) -> tuple[Rows, Routes]:
    """One request's alerts as rows of built-in types, and the routes they name by id()
    (a decision's own hash is slow; the items keep them alive until they are sent)."""
    routes: Routes = {}
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
    return rows, routes


def decode_rows(rows: Rows, routes: Routes) -> list[Item]:
    return [
        Item(
            Alert(*r[:9]),
            r[9],
            routes[r[10]],
            Mute(r[11], r[12]) if r[11] is not None else None,
        )
        for r in rows
    ]


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


def frame(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def split_frames(buffer: bytearray) -> list[Any]:
    """The whole messages at the start of `buffer`, which keeps what follows them."""
    messages = []
    at, end = 0, len(buffer)
    with memoryview(buffer) as view:  # unpickled in place, not copied out first
        while end - at >= 4:
            (size,) = _HEADER.unpack_from(view, at)
            if end - at - 4 < size:
                break
            messages.append(pickle.loads(view[at + 4 : at + 4 + size]))
            at += 4 + size
    del buffer[:at]
    return messages


class JobPickler(pickle.Pickler):
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


class JobUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, cache: dict[int, RulesConfig]) -> None:
        super().__init__(io.BytesIO(data))
        self._cache = cache

    def persistent_load(self, pid: Any) -> Any:
        if pid[0] == "new":
            self._cache.clear()
            self._cache[pid[1]] = pickle.loads(pid[2])
        return self._cache[pid[1]]


def pickle_job(job: Job, sent: dict[int, RulesConfig]) -> bytes:
    buffer = io.BytesIO()
    JobPickler(buffer, sent).dump(job)
    return buffer.getvalue()


def _failure(exc: Exception) -> Outcome:
    """An exception as the bot will raise it: the database's as StoreUnavailable,
    others as themselves when they pickle (callers may catch them), else as text."""
    error = unavailable(exc)
    if isinstance(error, StoreUnavailable):
        return ("unavailable", str(error))
    try:
        pickle.dumps(error)
    except Exception:
        return ("failed", IngestFailed(f"{type(exc).__name__}: {exc}"))
    return ("failed", error)


def outcome_error(kind: str, value: Any) -> BaseException | None:
    """The exception the bot raises for an outcome (None: it succeeded)."""
    if kind == "ok":
        return None
    if kind == "unavailable":
        return StoreUnavailable(value)
    return value if isinstance(value, BaseException) else IngestFailed(str(value))


class _Inbox:
    """Whole messages from the bot's socket, decoded in the order they were sent (the
    routes and rules a message names by id were sent before it)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._routes: Routes = {}
        self._rules: dict[int, RulesConfig] = {}

    def read(self, *, block: bool) -> list[tuple[Any, ...]]:
        """What has arrived; with `block`, at least one message (EOFError: the bot is
        gone)."""
        flags = 0 if block else socket.MSG_DONTWAIT
        while True:
            try:
                data = self._sock.recv(READ_SIZE, flags)
            except BlockingIOError:
                data = None
            if data == b"":
                raise EOFError
            if data:
                self._buffer += data
                flags = socket.MSG_DONTWAIT  # then take only what is there already
                continue
            messages = self._decode(split_frames(self._buffer))
            if messages or not block:
                return messages
            flags = 0

    def _decode(self, messages: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out = []
        for message in messages:
            kind = message[0]
            if kind == "i":
                _, rid, now, routes, rows = message
                self._routes.update(routes)
                out.append(("i", rid, now, decode_rows(rows, self._routes)))
            elif kind == "j":
                _, jid, share, blob = message
                try:
                    job: Any = JobUnpickler(blob, self._rules).load()
                except Exception as exc:
                    job = _failure(exc)
                out.append(("j", jid, share, job))
            elif kind == "f":
                self._routes.clear()
            else:
                out.append(message)
        return out


def _send(sock: socket.socket, message: tuple[Any, ...]) -> None:
    sock.sendall(frame(message))


def _commit(engine: Any, requests: list[tuple[Any, ...]]) -> list[tuple[list[int], Outcome]]:
    """Requests in one transaction, at the time the newest was queued; when that fails,
    each on its own, so that one bad webhook does not fail the others."""
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            plan = apply_batch(conn, [item for r in requests for item in r[3]], requests[-1][2])
        reply = encode_plan(plan, time.perf_counter() - started)
        return [([r[1] for r in requests], ("ok", reply))]
    except Exception as exc:
        if len(requests) > 1:
            return [answer for r in requests for answer in _commit(engine, [r])]
        # Exceptions of database drivers do not always pickle: send their text.
        error = unavailable(exc)
        if isinstance(error, StoreUnavailable):
            return [([requests[0][1]], ("unavailable", str(error)))]
        return [([requests[0][1]], ("failed", f"{type(exc).__name__}: {exc}"))]


def _run(engine: Any, jobs: list[tuple[Any, ...]]) -> list[tuple[int, Outcome]]:
    ready = [j for j in jobs if not isinstance(j[3], tuple)]
    outcomes: dict[int, Outcome] = {j[1]: j[3] for j in jobs if isinstance(j[3], tuple)}
    results = run_jobs(engine, [j[3] for j in ready], together=len(ready) > 1)
    for job, (ok, value) in zip(ready, results, strict=True):
        outcomes[job[1]] = ("ok", value) if ok else _failure(value)
    answers = []
    for jid, outcome in outcomes.items():
        try:
            pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a result that does not pickle: a bug of ours
            outcome = ("failed", IngestFailed(f"a job's result did not pickle: {exc}"))
        answers.append((jid, outcome))
    return answers


def _checkpoint(engine: Any, restart_within_ms: int) -> Outcome:
    try:
        return ("ok", checkpoint_wal(engine, restart_within_ms=restart_within_ms))
    except Exception as exc:
        return ("unavailable", str(unavailable(exc)))


def _serve(sock: socket.socket, inbox: _Inbox, url: str, arrived: list[tuple[Any, ...]]) -> None:
    """Each round: commit every webhook that has arrived (up to MAX_BATCH_ALERTS), then
    one other write (or the shared ones together), then look again. A webhook waits
    behind at most one other write."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    engine = create_engine(url, writer=True)
    pending = collections.deque(arrived)
    try:
        while True:
            try:
                pending.extend(inbox.read(block=not pending))
            except EOFError:
                return  # the bot is gone
            batch, rest, size = [], collections.deque[tuple[Any, ...]](), 0
            for message in pending:
                if message[0] == "i" and size < MAX_BATCH_ALERTS:
                    batch.append(message)
                    size += len(message[3])
                else:
                    rest.append(message)
            pending = rest
            if batch:
                _send(sock, ("i", _commit(engine, batch)))
            if not pending or pending[0][0] == "i":
                continue
            first = pending.popleft()
            kind = first[0]
            if kind == "j":
                jobs = [first]
                if first[2]:  # shared: with every shared job waiting
                    jobs += [m for m in pending if m[0] == "j" and m[2]]
                    pending = collections.deque(m for m in pending if not (m[0] == "j" and m[2]))
                _send(sock, ("j", _run(engine, jobs)))
            elif kind == "c":
                _send(sock, ("c", first[1], _checkpoint(engine, first[2])))
            elif kind == "b":
                _send(sock, ("b", first[1]))
                _hold(inbox, pending)
            elif kind == "s":
                _send(sock, ("s",))
                return
            # ("r",) outside a barrier: one that a lost process was held by; nothing to do
    finally:
        engine.dispose()


def _hold(inbox: _Inbox, pending: collections.deque[tuple[Any, ...]]) -> None:
    """Write nothing until the bot says resume: it writes on its own connection."""
    while True:
        messages = inbox.read(block=True)
        for at, message in enumerate(messages):
            if message[0] == "r":
                pending.extend(messages[:at] + messages[at + 1 :])
                return
        pending.extend(messages)


def main() -> None:
    """The process's entry: its socket's descriptor is the last argument."""
    tune_gc()
    sock = socket.socket(fileno=int(sys.argv[-1]))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
    inbox = _Inbox(sock)
    # Now, while the bot starts, rather than in the first job: importing them there
    # held up the webhooks queued behind it for a quarter of a second.
    for module in _JOB_MODULES:
        importlib.import_module(module)
    try:
        first = inbox.read(block=True)
    except EOFError:
        return
    _serve(sock, inbox, first[0][1], first[1:])

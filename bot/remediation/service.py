"""Remediation as the bot and the CLI use it: find the action, render it, ask, approve,
run, record. Each step commits before anything happens outside the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

import orjson
from sqlmodel import Session

from bot.config import Config
from bot.remediation import approvals, audit, runner
from bot.remediation.policy import Spec
from bot.remediation.render import Rendered, RenderError, common, incident_context, render
from bot.remediation.runs import Decision, RunView
from bot.runbooks.loader import RunbookFile
from bot.runbooks.model import Action
from bot.store import Store, StoreUnavailable, queries
from bot.store.tables import Incident, RemediationRun

log = logging.getLogger(__name__)
HEARTBEAT = timedelta(seconds=15)
STALE = timedelta(seconds=90)  # a running run not heard from for this long is interrupted
AUTO_USER = "pagerbot"
Observer = Callable[[RunView, Decision], Awaitable[None]]


class RemediationError(ValueError):
    """The request names something that does not exist or cannot run here."""


@dataclass(frozen=True)
class Prepared:
    incident: Incident
    runbook: RunbookFile
    action: Action
    rendered: Rendered


def runbook_for(config: Config, incident: Incident, labels: dict[str, str]) -> RunbookFile | None:
    """The route's explicit runbook, else the first whose match fits the shared labels."""
    node = next((n for n in config.router.walk() if n.id == incident.route_id), None)
    explicit = node.decision.runbook if node is not None else config.router.default.runbook
    return config.runbooks.for_alert(labels, explicit)


def incident_labels(session: Session, number: int) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations every (firing, else every) alert of the incident shares."""
    rows = list(queries.incident_alerts(session, number))
    firing = [r for r in rows if r.status == "firing"] or rows
    labels = common([orjson.loads(r.labels) for r in firing])
    annotations = common([orjson.loads(r.annotations) for r in firing])
    return labels, annotations


class Remediation:
    def __init__(
        self,
        store: Store,
        config: Callable[[], Config],
        *,
        role: str = "bot",
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self._config = config
        self._wake = wake
        self.runner_prefix = f"{role}:{socket.gethostname()}:"
        self.runner_id = self.runner_prefix + uuid.uuid4().hex[:12]
        self.observers: list[Observer] = []
        self._tasks: dict[int, asyncio.Task[Decision]] = {}
        self._auto: set[asyncio.Task[None]] = set()
        # One incident's automatic runs at a time, in the order the incidents opened: the
        # circuit breaker then stops the latest ones, not whichever read finished last.
        self._auto_turn = asyncio.Lock()

    # ------------------------------------------------------------------ looking up

    async def prepare(self, number: int, name: str) -> Prepared:
        """Raises RemediationError (unknown incident or action) or RenderError (refused)."""
        config = self._config()

        def read(session: Session) -> tuple[Incident | None, dict[str, str], dict[str, str]]:
            row = queries.incident(session, number)
            return (row, *incident_labels(session, number)) if row else (None, {}, {})

        incident, labels, annotations = await self.store.read(read)
        if incident is None:
            raise RemediationError(f"no incident INC-{number}")
        book = runbook_for(config, incident, labels)
        action = next((a for a in book.meta.actions if a.name == name), None) if book else None
        if book is None or action is None:
            offered = ", ".join(a.name for a in book.meta.actions) if book else ""
            where = (
                f"runbook {book.name} offers: {offered or 'no actions'}" if book else "no runbook"
            )
            raise RemediationError(f"INC-{number} has no action {name!r} ({where})")
        context = incident_context(number, incident.state, incident.team)
        rendered = render(action, labels=labels, annotations=annotations, incident=context)
        return Prepared(incident, book, action, rendered)

    async def actions_for(self, number: int) -> list[Action]:
        config = self._config()

        def read(session: Session) -> list[Action]:
            row = queries.incident(session, number)
            if row is None:
                return []
            book = runbook_for(config, row, incident_labels(session, number)[0])
            return list(book.meta.actions) if book else []

        return await self.store.read(read)

    async def get(self, run_id: int) -> RunView | None:
        row = await self.store.read(lambda s: s.get(RemediationRun, run_id))
        return None if row is None else RunView.from_row(row)

    # ------------------------------------------------------------------ the steps

    async def _write(self, fn: Callable[..., Any], **kwargs: Any) -> Decision:
        decision: Decision = await self.store.write(partial(fn, **kwargs))
        await self._after([decision])
        return decision

    async def _after(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            audit.emit(decision.audit)
            if decision.audit:
                self._wake()
            if decision.run is not None:
                for observer in self.observers:
                    try:
                        await observer(decision.run, decision)
                    except Exception:
                        log.exception("remediation observer failed for run #%d", decision.run.id)

    async def request(self, number: int, name: str, user: str, *, trigger: str) -> Decision:
        try:
            prepared = await self.prepare(number, name)
        except RenderError as exc:
            return await self._write(
                approvals.refuse_request,
                number=number,
                action=name,
                user=user,
                reason=str(exc),
                now=self.store.clock(),
            )
        return await self._write(
            approvals.request,
            number=number,
            runbook=prepared.runbook.name,
            action=prepared.action.name,
            spec=Spec.of(prepared.action),
            rendered=prepared.rendered,
            trigger=trigger,
            user=user,
            now=self.store.clock(),
            rules=self._config().rules,
        )

    async def approve(self, run_id: int, user: str) -> Decision:
        return await self._write(
            approvals.approve,
            run_id=run_id,
            user=user,
            now=self.store.clock(),
            rules=self._config().rules,
        )

    async def deny(self, run_id: int, user: str, reason: str) -> Decision:
        return await self._write(
            approvals.deny,
            run_id=run_id,
            user=user,
            reason=reason,
            now=self.store.clock(),
            rules=self._config().rules,
        )

    async def execute(self, run_id: int) -> Decision:
        """Start an approved run and wait for it; the outcome is recorded before returning."""
        started = await self._write(
            approvals.start, run_id=run_id, runner=self.runner_id, now=self.store.clock()
        )
        if not started.ready or started.run is None:
            return started
        run = started.run
        beating = asyncio.create_task(self._heartbeat(run.id))
        try:
            outcome = await runner.run(
                run.rendered, time_limit=run.spec.timeout, env_names=list(run.spec.env)
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._interrupted(run.id, "the bot stopped while it was running"))
            raise
        finally:
            beating.cancel()
        return await self._write(
            approvals.finish, run_id=run.id, outcome=outcome, now=self.store.clock()
        )

    def launch(self, run_id: int) -> asyncio.Task[Decision]:
        """Run in the background (chat handlers must answer within seconds)."""
        task = asyncio.create_task(self.execute(run_id), name=f"remediation-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))
        return task

    async def _heartbeat(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT.total_seconds())
            with contextlib.suppress(StoreUnavailable):
                await self.store.write(
                    partial(approvals.heartbeat, run_ids=[run_id], now=self.store.clock())
                )

    async def _interrupted(self, run_id: int, reason: str) -> None:
        write = partial(
            approvals.interrupt_one, run_id=run_id, reason=reason, now=self.store.clock()
        )
        try:
            await self._after([await self.store.write(write)])
        except StoreUnavailable as exc:
            log.warning("run #%d interrupted but not recorded: %s (%s)", run_id, exc, reason)

    # ------------------------------------------------------------------ lifecycle

    async def recover(self) -> int:
        """At start-up: runs an earlier life of this bot left behind are marked interrupted."""
        now = self.store.clock()
        decisions = await self.store.write(
            partial(
                approvals.interrupt,
                now=now,
                previous=self.runner_prefix,
                me=self.runner_id,
                stale_before=now - STALE,
            )
        )
        await self._after(decisions)
        return len(decisions)

    async def expire_remediations(self) -> None:
        """Expire requests nobody approved in time; interrupt runs whose runner went quiet."""
        now = self.store.clock()
        await self._after(await self.store.write(partial(approvals.expire_due, now=now)))
        await self._after(
            await self.store.write(
                partial(
                    approvals.interrupt,
                    now=now,
                    previous=None,  # only the heartbeat decides here
                    me=self.runner_id,
                    stale_before=now - STALE,
                )
            )
        )

    async def stop(self) -> None:
        if self._auto:
            # Let them finish: one cancelled mid-read would hold a connection past close.
            _, late = await asyncio.wait(set(self._auto), timeout=5)
            for pending in late:
                pending.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, StoreUnavailable):
                await task

    # ------------------------------------------------------------------ automatic runs

    def opened(self, numbers: Sequence[int | None]) -> None:
        """Called by ingest, which must not wait: automatic runs start in the background."""
        wanted = [n for n in numbers if n is not None]
        config = self._config()
        if not wanted or not any(
            a.auto for book in config.runbooks.by_name.values() for a in book.meta.actions
        ):
            return
        task = asyncio.create_task(self._opened(wanted), name="remediation-auto")
        self._auto.add(task)
        task.add_done_callback(self._auto.discard)

    async def _opened(self, numbers: list[int]) -> None:
        try:
            async with self._auto_turn:
                await self.on_opened(numbers)
        except Exception:
            log.exception("automatic remediation failed for %s", numbers)

    async def on_opened(self, numbers: Sequence[int]) -> list[Decision]:
        """`auto: true` actions of each new incident, within their circuit breaker."""
        out = []
        for number in numbers:
            for action in await self.actions_for(number):
                if action.auto and action.approval == "none":
                    decision = await self.request(number, action.name, AUTO_USER, trigger="auto")
                    if decision.ready and decision.run is not None:
                        self.launch(decision.run.id)
                    out.append(decision)
        return out

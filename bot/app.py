"""Wires the pipeline together: ingest → mute → group → store → outbox → chat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Connection

from bot.alertmanager_client import AlertmanagerClient
from bot.chat import slack
from bot.config import Config, load_config
from bot.escalation import handoffs, targets
from bot.incidents import actions
from bot.incidents.grouping import Item, Plan
from bot.ingest import Alert, AlertStatus
from bot.metrics import Metrics
from bot.muting import MuteRuntime
from bot.notify import ConsoleNotifier, Notifier
from bot.notify.dispatcher import Dispatcher
from bot.reload import config_fingerprint
from bot.remediation import Remediation
from bot.reports.exporter import ReportExporter
from bot.rules import ConfigError, Router, RulesConfig
from bot.settings import Settings
from bot.silences import SilenceService
from bot.store import Store, StoreUnavailable, queries, utcnow
from bot.store.store import CHECKPOINT_SECONDS
from bot.store.writer import Clock
from bot.wakeup import SETTLE_SECONDS, SPACING_SECONDS, Wakeup
from bot.web.server import build_web_app

log = logging.getLogger(__name__)
_STORE_RETRY_SECONDS = 2.0
_GOLDEN = 0.618034
_JOB_DRAIN_SECONDS = 10.0  # at stop, periodic work running then may finish this long


def _phase(index: int, seconds: float) -> float:
    """Where in its interval periodic job `index` runs: spread, so that the jobs sharing
    an interval do not all start at once. Together the 10 s jobs took most of a core
    for a tenth of a second, and the webhooks of that moment waited."""
    return seconds * ((index * _GOLDEN) % 1.0)


class Pagerbot:
    def __init__(
        self,
        settings: Settings,
        config: Config,
        *,
        notifier: Notifier | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.config = config
        self.config_error: str | None = None
        self._config_seen = config_fingerprint(settings.config_dir)
        self.clock = clock
        self.metrics = Metrics()
        self.metrics.config_reload_success.set(1)
        self.store = Store(
            settings.database_url,
            clock=clock,
            observe=self.metrics.observe_batch,
            on_commit=self._committed,
            ingest_process=settings.ingest_process,
        )
        self.reports = ReportExporter(self.metrics.registry, self.store, lambda: self.config, clock)
        am = AlertmanagerClient(settings.alertmanager_url) if settings.alertmanager_url else None
        self.silences = SilenceService(self.store, am)
        self.muting = MuteRuntime(config, self.store, self.silences)
        self.notifier: Notifier = (
            notifier or slack.from_settings(settings, self._slack_id) or ConsoleNotifier()
        )
        self.dispatcher = Dispatcher(
            self.store,
            self.notifier,
            self.metrics,
            config=lambda: self.config,
            public_url=settings.base_url,
        )
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._opener: asyncio.Task[None] | None = None
        # A storm's openings share a tick.
        self._escalate_soon = Wakeup(settle=SETTLE_SECONDS, spacing=SPACING_SECONDS)
        self._next_due: datetime | None = None
        self._escalator: asyncio.Task[None] | None = None
        self._jobs_running: set[asyncio.Task[object]] = set()
        self.remediation = Remediation(self.store, lambda: self.config, wake=self.dispatcher.wake)

    def _slack_id(self, name: str) -> str | None:
        member = self.rules.users().get(name)
        return member.slack if member else None

    @property
    def rules(self) -> RulesConfig:
        return self.config.rules

    @property
    def router(self) -> Router:
        return self.config.router

    async def ingest(self, alerts: list[Alert]) -> Plan | None:
        """Route, mute, group and store alerts; returns once they are committed."""
        if not alerts:
            return None
        mutes = self.muting.evaluate(alerts, self.clock())
        for source, count in Counter(alert.source for alert in alerts).items():
            self.metrics.alerts_received.labels(source).inc(count)
        items = []
        for alert, mute in zip(alerts, mutes, strict=True):
            for route in self.router.route(alert.labels):
                items.append(Item(alert, route.group_key(alert.labels), route, mute))
        return await self.store.ingest(items)

    def _committed(self, plan: Plan) -> None:
        """Once per group commit, on the event loop: every webhook that shared the batch
        gets its whole plan, and acting on it once per webhook started an incident's
        automatic actions once per webhook."""
        if plan.events:
            self.dispatcher.wake()
        if any(e.kind in ("opened", "reopened") for e in plan.events):
            self._escalate_soon.set()  # page now, not at the next tick
        self.remediation.opened([e.incident.id for e in plan.events if e.kind == "opened"])

    # ------------------------------------------------------------------ incident actions

    async def act(self, action: str, number: int, user: str, text: str = "") -> actions.Result:
        """ack | resolve | escalate | note, as a person does them (Slack, CLI)."""
        incident = await self.store.read(lambda s: queries.incident(s, number))
        if incident is None:
            return actions.Result(actions.Outcome.NOT_FOUND, f"no incident INC-{number}")
        policy = self.rules.escalation_policies.get(incident.escalation or "")
        now = self.clock()
        fn: Callable[[Connection], actions.Result]
        if action == "ack":
            fn = partial(actions.acknowledge, number=number, user=user, now=now, policy=policy)
        elif action == "resolve":
            fn = partial(actions.resolve, number=number, user=user, now=now)
        elif action == "escalate":
            fn = partial(actions.escalate, number=number, user=user, now=now, policy=policy)
        elif action == "note":
            fn = partial(actions.note, number=number, user=user, text=text, now=now)
        else:
            raise ValueError(f"unknown action {action!r}")
        result = await self.store.write(fn)
        self.dispatcher.wake()
        if action == "escalate":
            self._escalate_soon.set()
        return result

    async def escalation_tick(self) -> int:
        """Page every escalation step that is due; returns how many pages were recorded."""
        run = partial(targets.tick, rules=self.rules, now=self.clock())
        count, more = 0, True
        while more:  # a storm is paged in several short transactions, not one long one
            result = await self.store.write(run, portable=True)
            count, more = count + len(result.pages), result.more
            if result.pages:
                self.dispatcher.wake()
        self._next_due = result.next_due
        return count

    def _until_next_due(self) -> float:
        """Sleep to the next due step (a page is late by the tick cost, not up to 1s)."""
        if self._next_due is None:
            return 1.0
        return min(1.0, max(0.02, (self._next_due - self.clock()).total_seconds()))

    async def _escalation_loop(self) -> None:
        """Ticks every second, and within 50 ms when an incident opens (so that a storm's
        openings share a tick: each tick is a write transaction)."""
        while True:
            await self._escalate_soon.wait(self._until_next_due())
            if not self.store.is_open:
                continue
            try:
                await self.escalation_tick()
            except StoreUnavailable as exc:
                log.warning("escalation tick skipped: %s", exc)
            except Exception:
                log.exception("escalation tick failed")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        try:
            await self.store.open()
            await self.muting.load()
            await self.remediation.recover()
        except StoreUnavailable as exc:
            # Serve anyway: /readyz says why, webhooks answer 503 and senders retry.
            log.error("%s; retrying every %.0fs", exc, _STORE_RETRY_SECONDS)
            self._opener = asyncio.create_task(self._keep_opening())
        self.dispatcher.start()
        self._escalator = asyncio.create_task(self._escalation_loop(), name="pagerbot-escalation")
        jobs: list[tuple[Callable[[], Awaitable[object]], float]] = [
            (self.expire_alerts, 15),
            (self.store.checkpoint, CHECKPOINT_SECONDS),
            (self.remute, 10),
            (self.reload_inhibitions, 60),
            (self.remind, 60),
            (self.reports.refresh_report_metrics, 60),
            (self.remediation.expire_remediations, 10),
            (self.handoff_tick, 30),
        ]
        if self.settings.config_poll_seconds > 0:
            jobs.append((self.watch_config, self.settings.config_poll_seconds))
        started = datetime.now(UTC)
        for index, (job, seconds) in enumerate(jobs):
            self.scheduler.add_job(
                self._guard(job),
                "interval",
                seconds=seconds,
                id=job.__name__,
                max_instances=1,
                coalesce=True,
                next_run_time=started + timedelta(seconds=seconds + _phase(index, seconds)),
            )
        self.scheduler.start()

    def _guard(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        """Periodic work waits while the store is down, and never kills the scheduler."""

        async def run() -> None:
            if not self.store.is_open:
                return
            task = asyncio.current_task()
            if task is not None:
                self._jobs_running.add(task)
            try:
                await job()
            except StoreUnavailable as exc:
                log.warning("%s skipped: %s", job.__name__, exc)
            except Exception:
                log.exception("%s failed", job.__name__)
            finally:
                self._jobs_running.discard(task)

        run.__name__ = job.__name__
        return run

    async def _keep_opening(self) -> None:
        while not self.store.is_open:
            await asyncio.sleep(_STORE_RETRY_SECONDS)
            try:
                await self.store.open()
                await self.muting.load()
                await self.remediation.recover()
                log.info("database reachable again")
            except StoreUnavailable as exc:
                log.debug("still unavailable: %s", exc)

    async def stop(self) -> None:
        if self._opener is not None:
            self._opener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opener
        if self.scheduler.running:
            # Start nothing new, let what runs finish (its scheduler would cancel it
            # halfway and log the cancellation as a failure), then stop.
            self.scheduler.pause()
            if self._jobs_running:
                await asyncio.wait(set(self._jobs_running), timeout=_JOB_DRAIN_SECONDS)
            self.scheduler.shutdown(wait=False)
        if self._escalator is not None:
            self._escalator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._escalator
        await self.remediation.stop()
        await self.dispatcher.stop()
        await self.store.close()

    def web_app(self) -> web.Application:
        return build_web_app(self)

    # ------------------------------------------------------------------ periodic work

    async def expire_alerts(self) -> int:
        """Resolve alerts whose sender gave an end that passed with no refresh."""
        now = self.clock()
        rows = await self.store.read(lambda s: queries.expired_alerts(s, now))
        alerts = [
            Alert(
                labels=orjson.loads(row.labels),
                annotations=orjson.loads(row.annotations),
                status=AlertStatus.RESOLVED,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                generator_url=row.generator_url,
                fingerprint=row.fingerprint,
                source=row.source,
            )
            for row in rows
        ]
        await self.ingest(alerts)
        return len(alerts)

    async def remute(self) -> int:
        """Apply silences made or ended, windows opening or closing, and inhibitions
        starting or stopping, to alerts already stored; returns how many changed."""
        await self.muting.refresh_silences()
        changed = 0
        async for items in self.muting.remute_pages(self.router):
            await self.store.ingest(items)
            changed += len(items)
        await self.muting.flush_matched()
        return changed

    async def reload_inhibitions(self) -> None:
        await self.muting.load()

    async def handoff_tick(self) -> int:
        """Digest to whoever just came on call; escalate handoffs not accepted in time."""
        return await handoffs.tick(self.store, self.config, self.notifier)

    async def remind(self) -> int:
        return await self.muting.remind(self.notifier)

    async def watch_config(self) -> bool:
        seen = await asyncio.to_thread(config_fingerprint, self.settings.config_dir)
        if seen == self._config_seen:
            return False
        self._config_seen = seen
        return await self.reload()

    async def reload(self) -> bool:
        """Load rules/ and runbooks/ again; on any problem keep the running config."""
        try:
            config = await asyncio.to_thread(load_config, self.settings.config_dir)
        except ConfigError as exc:
            self.config_error = "; ".join(str(p) for p in exc.problems)
            self.metrics.config_reload_success.set(0)
            for problem in exc.problems:
                log.error("config not reloaded: %s", problem)
            return False
        self.config = config
        self.muting.reconfigure(config)
        # The new rules start with an empty inhibition index: refill it from the firing
        # alerts now (if the store is down, reload_inhibitions does it later).
        with contextlib.suppress(StoreUnavailable):
            await self.muting.load()
        self.config_error = None
        self.metrics.config_reload_success.set(1)
        log.info(
            "config reloaded: %d routes, %d runbooks",
            len(config.router.walk()),
            len(config.runbooks.by_name),
        )
        return True

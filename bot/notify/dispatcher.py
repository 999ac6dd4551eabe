"""Drains the outbox into the Notifier: at least once per change, in order per incident,
channels in parallel. Exactly once is the sink's part (see bot/chat/slack.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial

from sqlalchemy import Connection

from bot.config import Config
from bot.metrics import Metrics
from bot.notify.base import DeliveryError, Details, Notifier, OutboxSink, PersonView
from bot.notify.details import describe
from bot.store import Store, StoreUnavailable
from bot.store import outbox as ob
from bot.wakeup import SETTLE_SECONDS, SPACING_SECONDS, Wakeup

log = logging.getLogger(__name__)
Record = Callable[[Connection], None]  # a portable write: how a delivery went
_POLL_SECONDS = 1.0
# At ~1 message/s per channel and two messages per delivery (update + thread reply),
# 8 claimed entries per channel finish well inside the 60 s lease.
PER_CHANNEL = 8


class Dispatcher:
    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        metrics: Metrics,
        *,
        config: Callable[[], Config] | None = None,
        public_url: str = "",
        per_channel: int = PER_CHANNEL,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._metrics = metrics
        self._config = config
        self._public_url = public_url
        self._per_channel = per_channel
        # A claim is a write transaction: one per webhook cost more than the webhook.
        self._wake = Wakeup(settle=SETTLE_SECONDS, spacing=SPACING_SECONDS)
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pagerbot-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight and self._store.is_open:
            ids, self._in_flight = sorted(self._in_flight), set()
            with contextlib.suppress(StoreUnavailable):
                await self._store.write(
                    partial(ob.release, entry_ids=ids, now=self._store.clock()), portable=True
                )

    async def _run(self) -> None:
        while True:
            await self._wake.wait(_POLL_SECONDS)
            try:
                if await self.deliver_due():
                    self.wake()  # what came meanwhile goes in the next round, after the pause
            except StoreUnavailable as exc:
                log.warning("outbox paused: %s", exc)
            except Exception:
                log.exception("outbox delivery failed")

    async def deliver_due(self) -> int:
        """Deliver what is due now; returns how many entries were claimed."""
        if not self._store.is_open:
            return 0
        now = self._store.clock()
        deliveries = await self._store.write(
            partial(ob.claim, now=now, per_channel=self._per_channel), portable=True
        )
        by_channel: dict[str | None, list[ob.Delivery]] = {}
        for delivery in deliveries:
            by_channel.setdefault(delivery.incident.channel, []).append(delivery)
        self._in_flight.update(d.entry_id for d in deliveries)
        await asyncio.gather(*(self._deliver_in_order(group) for group in by_channel.values()))
        return len(deliveries)

    async def _deliver_in_order(self, deliveries: list[ob.Delivery]) -> None:
        """One after another: chat paces a channel. Each one's record is written while
        the next is posted, so the round's records commit together: written one by one,
        they were most of the writer's transactions under load. Each is still written
        as soon as its message is out, so no message waits longer to be recorded."""
        records: list[asyncio.Task[None]] = []
        try:
            for delivery in deliveries:
                record = await self._deliver(delivery)
                records.append(asyncio.create_task(self._record(delivery, record)))
        finally:
            # Also when cancelled: `stop` releases only what was not recorded.
            outcomes = await asyncio.gather(*records, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _record(self, delivery: ob.Delivery, record: Record) -> None:
        await self._store.write(record, share=True, portable=True)
        self._in_flight.discard(delivery.entry_id)

    async def _deliver(self, delivery: ob.Delivery) -> Record:
        """Post or page; returns the write that records how it went."""
        if delivery.kind == "update" and delivery.incident.muted and delivery.message_ref is None:
            # Never posted and muted: stay quiet. The cursor stays, so if it is
            # unmuted later its whole story is told, including what muted it.
            self._metrics.outbox_delivered.labels("muted").inc()
            return partial(ob.skip, delivery=delivery, now=self._store.clock())
        ref: str | None = None
        try:
            if delivery.kind == "page":
                await self._page(delivery)
            else:
                ref = await self._update(delivery)
        except Exception as exc:
            return self._failed(delivery, exc)
        self._metrics.outbox_delivered.labels("page" if delivery.kind == "page" else "ok").inc()
        return partial(ob.complete, delivery=delivery, message_ref=ref, now=self._store.clock())

    async def _update(self, delivery: ob.Delivery) -> str | None:
        if isinstance(self._notifier, OutboxSink):
            details = await self._details(delivery)
            return await self._notifier.deliver_update(
                delivery.incident, delivery.events, delivery.message_ref, details
            )
        return await self._notifier.incident_changed(
            delivery.incident, delivery.events, delivery.message_ref
        )

    async def _page(self, delivery: ob.Delivery) -> None:
        payload = delivery.payload or {}
        user, contact = str(payload["user"]), payload.get("contact")
        why = str(payload.get("why", ""))
        if isinstance(self._notifier, OutboxSink):
            details = await self._details(delivery)
            person = PersonView(user, str(contact) if contact else None)
            await self._notifier.deliver_page(
                delivery.incident, person, why, delivery.message_ref, details
            )
        else:
            await self._notifier.page(delivery.incident, user, contact, why)

    async def _details(self, delivery: ob.Delivery) -> Details:
        if self._config is None:
            return Details(attempt=delivery.attempts, entry_id=delivery.entry_id)
        incident_id = delivery.incident.id
        extras = await self._store.read(lambda s: ob.extras(s.connection(), incident_id))
        return describe(
            self._config(),
            self._public_url,
            delivery.incident,
            extras,
            attempt=delivery.attempts,
            entry_id=delivery.entry_id,
        )

    def _failed(self, delivery: ob.Delivery, exc: Exception) -> Record:
        what = f"page of {(delivery.payload or {}).get('user')}" if delivery.kind == "page" else ""
        log.warning(
            "delivery of %s %s failed (attempt %d): %s",
            delivery.incident.number,
            what,
            delivery.attempts,
            exc,
        )
        self._metrics.outbox_delivered.labels("retry").inc()
        retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
        ref = exc.message_ref if isinstance(exc, DeliveryError) else None
        return partial(
            ob.fail,
            delivery=delivery,
            error=f"{type(exc).__name__}: {exc}",
            now=self._store.clock(),
            retry_after=retry_after,
            message_ref=ref,
        )

"""Drains the outbox into the Notifier: at least once per change, in order per incident."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from bot.metrics import Metrics
from bot.notify.base import Notifier
from bot.store import Store, StoreUnavailable
from bot.store import outbox as ob

log = logging.getLogger(__name__)
_POLL_SECONDS = 1.0


class Dispatcher:
    def __init__(self, store: Store, notifier: Notifier, metrics: Metrics) -> None:
        self._store = store
        self._notifier = notifier
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _POLL_SECONDS)
            self._wake.clear()
            try:
                while await self.deliver_due():
                    pass
            except StoreUnavailable as exc:
                log.warning("outbox paused: %s", exc)
            except Exception:
                log.exception("outbox delivery failed")

    async def _page(self, delivery: ob.Delivery) -> None:
        payload = delivery.payload or {}
        try:
            await self._notifier.page(
                delivery.incident,
                str(payload["user"]),
                payload.get("contact"),
                str(payload.get("why", "")),
            )
        except Exception as exc:
            log.warning(
                "page of %s for %s failed: %s", payload.get("user"), delivery.incident.number, exc
            )
            self._metrics.outbox_delivered.labels("retry").inc()
            await self._store.write(
                partial(
                    ob.fail,
                    delivery=delivery,
                    error=f"{type(exc).__name__}: {exc}",
                    now=self._store.clock(),
                )
            )
            return
        self._metrics.outbox_delivered.labels("page").inc()
        await self._store.write(
            partial(ob.complete, delivery=delivery, message_ref=None, now=self._store.clock())
        )

    async def deliver_due(self) -> int:
        """Deliver what is due now; returns how many entries were claimed."""
        if not self._store.is_open:
            return 0
        now = self._store.clock()
        deliveries = await self._store.write(partial(ob.claim, now=now))
        for delivery in deliveries:
            if delivery.kind == "page":
                await self._page(delivery)
                continue
            if delivery.incident.muted and delivery.message_ref is None:
                # Never posted and muted: stay quiet. The cursor stays, so if it is
                # unmuted later its whole story is told, including what muted it.
                self._metrics.outbox_delivered.labels("muted").inc()
                await self._store.write(partial(ob.skip, delivery=delivery, now=now))
                continue
            try:
                ref = await self._notifier.incident_changed(
                    delivery.incident, delivery.events, delivery.message_ref
                )
            except Exception as exc:
                log.warning("delivery of %s failed: %s", delivery.incident.number, exc)
                self._metrics.outbox_delivered.labels("retry").inc()
                error = f"{type(exc).__name__}: {exc}"
                await self._store.write(partial(ob.fail, delivery=delivery, error=error, now=now))
                continue
            self._metrics.outbox_delivered.labels("ok").inc()
            await self._store.write(
                partial(ob.complete, delivery=delivery, message_ref=ref, now=self._store.clock())
            )
        return len(deliveries)

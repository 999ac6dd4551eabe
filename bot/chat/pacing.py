"""Per-channel pacing: Slack allows about one message per second per channel, and a 429
names how long to stay away. Slots are reserved in order, so concurrent senders queue.
The pace is per process: replicas sharing a channel each keep their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.notify.base import DeliveryError


class Pacer:
    def __init__(
        self,
        interval: float = 1.0,
        max_wait: float = 20.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_wait = max_wait
        self._now = monotonic
        self._next: dict[str, float] = {}

    async def slot(self, channel: str) -> None:
        """Waits for the channel's next slot; a wait past `max_wait` is handed back to the
        outbox as a retry time rather than holding a claimed entry past its lease."""
        now = self._now()
        ready = max(self._next.get(channel, 0.0), now)
        wait = ready - now
        if wait > self.max_wait:
            raise DeliveryError(f"channel {channel} is busy", retry_after=wait)
        self._next[channel] = ready + self.interval
        if wait > 0:
            await asyncio.sleep(wait)

    def finished(self, channel: str) -> None:
        """A call to the channel got its answer: the next starts an interval later. Spacing
        starts and ends both keeps the gap as Slack sees it even when a request is slow."""
        self._next[channel] = max(self._next.get(channel, 0.0), self._now() + self.interval)

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said 429 with Retry-After: nobody sends there before it runs out."""
        self._next[channel] = max(self._next.get(channel, 0.0), self._now() + seconds)

    def alias(self, name: str, channel_id: str) -> None:
        """A #name turned out to be this id: one channel, one queue."""
        if name != channel_id and name in self._next:
            self._next[channel_id] = max(self._next.get(channel_id, 0.0), self._next.pop(name))

    def busy_for(self, channel: str) -> float:
        return max(self._next.get(channel, 0.0) - self._now(), 0.0)

"""A poke-or-poll wait for background loops that always honours cancellation.

Python 3.11's `asyncio.wait_for` can swallow a cancel that arrives just as the awaited
event fires (gh-86296); a loop built on it may then never stop, and shutdown hangs
forever. `asyncio.timeout` does not have that race.
"""

from __future__ import annotations

import asyncio

# Pokes come from commits; a loop whose round is a write transaction waits this long after
# one, so that the commits of a burst share a round (one claim, one tick) instead of
# costing one each.
SETTLE_SECONDS = 0.05
# ...and under a steady stream of pokes (a storm's openings), starts a round at most this
# often: every round is a write that ingest waits behind.
SPACING_SECONDS = 0.25


class Wakeup:
    """Lets a loop sleep until poked or until its poll interval passes; after a poke it
    waits `settle` seconds more, so that pokes arriving together wake it once, and at
    least until `spacing` seconds after a poke last woke it, so that a stream of pokes
    wakes it that often at most."""

    def __init__(self, settle: float = 0.0, spacing: float = 0.0) -> None:
        self._event = asyncio.Event()
        self._settle = settle
        self._spacing = spacing
        self._woke = float("-inf")

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when poked, False when the interval passed; clears the poke either way."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False  # a poll: it does not hold up the next poke
        finally:
            self._event.clear()
        delay = max(self._settle, self._woke + self._spacing - loop.time())
        if delay > 0:
            await asyncio.sleep(delay)  # pokes meanwhile wake the next wait at once
        self._woke = loop.time()
        return True

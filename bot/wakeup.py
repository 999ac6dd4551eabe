"""A poke-or-poll wait for background loops that always honours cancellation.

Python 3.11's `asyncio.wait_for` can swallow a cancel that arrives just as the awaited
event fires (gh-86296); a loop built on it may then never stop, and shutdown hangs
forever. `asyncio.timeout` does not have that race.
"""

from __future__ import annotations

import asyncio


class Wakeup:
    """Lets a loop sleep until poked or until its poll interval passes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """True when poked, False when the interval passed; clears the poke either way."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True

"""Background loops must stop when cancelled, even if poked at that very moment."""

from __future__ import annotations

import asyncio

from bot.wakeup import Wakeup


async def _loop(wake: Wakeup, turns: list[bool]) -> None:
    while True:
        turns.append(await wake.wait(30))


async def test_a_cancel_that_coincides_with_a_poke_still_stops_the_loop() -> None:
    # asyncio.wait_for on 3.11 returns the poke and drops the cancel here: shutdown hung.
    for _ in range(50):
        wake, turns = Wakeup(), []
        task = asyncio.create_task(_loop(wake, turns))
        await asyncio.sleep(0)
        wake.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled()


async def test_poke_and_poll() -> None:
    wake = Wakeup()
    assert await wake.wait(0.01) is False
    wake.set()
    assert await wake.wait(5) is True
    assert await wake.wait(0.01) is False  # the poke was consumed

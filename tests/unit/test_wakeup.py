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


async def test_pokes_during_the_settle_fold_into_one_next_wake() -> None:
    """With a settle time, pokes that come while a woken loop waits are not lost, and
    however many there were, they wake it once."""
    wake = Wakeup(settle=0.3)
    wake.set()
    first = asyncio.create_task(wake.wait(30))
    await asyncio.sleep(0)  # it took the poke and is settling
    wake.set()
    wake.set()
    assert not first.done()
    assert await first is True
    assert await wake.wait(0.01) is True  # both later pokes: one wake-up
    assert await wake.wait(0.01) is False


async def _settled(task: asyncio.Task[bool]) -> bool:
    """Whether the wait finished without sleeping: a few loop turns and no timer."""
    for _ in range(3):
        await asyncio.sleep(0)
    return task.done()


async def test_a_stream_of_pokes_wakes_the_loop_once_per_spacing_at_most() -> None:
    """A storm pokes the chat and escalation loops all the time; each of their rounds is
    a write that ingest waits behind, so they run at most once per `spacing`."""
    wake, turns = Wakeup(spacing=0.2), []
    task = asyncio.create_task(_loop(wake, turns))
    try:
        for _ in range(100):  # a poke every 10 ms for a second
            wake.set()
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert 2 <= len(turns) <= 7  # unspaced, it woke for nearly every poke


async def test_a_poke_after_a_quiet_spell_wakes_the_loop_at_once() -> None:
    wake = Wakeup(spacing=0.3)
    wake.set()
    assert await wake.wait(5) is True
    wake.set()
    soon = asyncio.create_task(wake.wait(5))
    assert not await _settled(soon)  # within the spacing: it waits
    assert await soon is True
    await asyncio.sleep(0.35)  # quiet for longer than the spacing
    wake.set()
    at_once = asyncio.create_task(wake.wait(5))
    assert await _settled(at_once) and at_once.result() is True


async def test_a_poll_does_not_hold_up_the_next_poke() -> None:
    """The escalation loop polls every second; a first page must not wait for the
    spacing because a poll ran just before."""
    wake = Wakeup(spacing=5)
    assert await wake.wait(0.01) is False
    wake.set()
    at_once = asyncio.create_task(wake.wait(5))
    assert await _settled(at_once) and at_once.result() is True

"""Due times live in the database: a restart pages late rather than never, and two bots
on one database never send the same page twice."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.escalation.conftest import fire, outbox_drained, outbox_pages, pages, who
from tests.helpers import Clock, eventually, running_bot


async def test_restart_mid_escalation_pages_the_next_step_late_not_lost(
    oncall_dir: Path, sqlite_url: str
) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as first:
        await fire(first.url, alertname="Down", policy="payments")
        await eventually(lambda: pages(first.bot))
        await eventually(lambda: outbox_drained(first.bot))
        assert "[page] INC-1 → alice (U1)" in first.console.getvalue()
        opened = clock.now
    clock.advance(minutes=15)  # step 2 fell due at +10m while nothing ran
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as second:
        found = await eventually(lambda: _at_least(second, 2))
        assert who(found) == ["alice", "bob"]
        assert (found[1]["round"], found[1]["step"], found[1]["at"]) == (1, 2, clock.now)
        assert found[1]["at"] - opened == clock.now - opened  # late by 5 minutes, not lost
        await eventually(lambda: "[page] INC-1 → bob (U2)" in second.console.getvalue())
        assert "→ alice" not in second.console.getvalue()
        clock.advance(minutes=5)
        await second.bot.escalation_tick()
        assert who(await pages(second.bot)) == ["alice", "bob", "carol"]
        assert Counter(await outbox_pages(second.bot)) == Counter(
            {(1, "alice"): 1, (1, "bob"): 1, (1, "carol"): 1}
        )


async def _at_least(rb: object, n: int) -> object:
    from tests.helpers import RunningBot

    assert isinstance(rb, RunningBot)
    found = await pages(rb.bot)
    return found if len(found) >= n else None


INCIDENTS = 20
PAGES_EACH = 6  # 3 steps x 2 rounds, one person per step


async def _two_bots_page_once(oncall_dir: Path, url: str) -> None:
    clock = Clock()
    async with (
        running_bot(oncall_dir, url, clock=clock) as one,
        running_bot(oncall_dir, url, clock=clock) as two,
    ):
        for i in range(INCIDENTS):
            await fire((one, two)[i % 2].url, alertname=f"Down{i}", policy="payments")
        for _ in range(14):
            await eventually(lambda: outbox_drained(one.bot))
            clock.advance(minutes=5)
            ticks = [b.bot.escalation_tick() for b in (one, two, one, two)]
            await asyncio.gather(*ticks)
        found = await pages(one.bot)
        keys = Counter((p["incident"], p["round"], p["step"]) for p in found)
        assert len(keys) == INCIDENTS * PAGES_EACH
        assert max(keys.values()) == 1
        sent = await outbox_pages(one.bot)
        assert len(sent) == INCIDENTS * PAGES_EACH
        assert Counter(sent) == Counter({(i, u): 2 for i in range(1, 21) for u in WHO})

        def delivered() -> list[str]:
            text = one.console.getvalue() + two.console.getvalue()
            return re.findall(r"^\[page\] .*$", text, flags=re.M)

        lines = await eventually(lambda: len(delivered()) >= INCIDENTS * PAGES_EACH and delivered())
        await asyncio.sleep(0.3)  # a duplicate delivery would show up by now
        assert len(delivered()) == len(set(lines)) == INCIDENTS * PAGES_EACH


WHO = ("alice", "bob", "carol")


@pytest.mark.postgres
async def test_two_bots_on_one_postgresql_never_send_a_page_twice(
    oncall_dir: Path, postgres_url: str
) -> None:
    await _two_bots_page_once(oncall_dir, postgres_url)


async def test_two_bots_on_one_sqlite_file_never_send_a_page_twice(
    oncall_dir: Path, sqlite_url: str
) -> None:
    await _two_bots_page_once(oncall_dir, sqlite_url)

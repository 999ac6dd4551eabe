"""Escalation through the real bot: webhooks in, pages recorded in the timeline and sent
through the outbox, time moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import Pagerbot
from tests.escalation.conftest import (
    event_kinds,
    fire,
    more_pages_than,
    outbox_pages,
    pages,
    state,
    who,
)
from tests.helpers import Clock, eventually, running_bot


async def test_steps_page_in_order_with_whom_and_why(oncall_dir: Path, sqlite_url: str) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Down", policy="payments")
        first = await eventually(lambda: pages(rb.bot))
        assert who(first) == ["alice"]
        assert first[0]["at"] == clock.now
        assert (first[0]["round"], first[0]["step"], first[0]["notify"]) == (
            1,
            1,
            "schedule:primary",
        )
        assert first[0]["text"] == "Paged alice (round 1 step 1: schedule:primary)"
        clock.advance(minutes=9, seconds=59)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice"]
        clock.advance(seconds=1)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice", "bob"]
        clock.advance(minutes=10)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice", "bob", "carol"]
        await eventually(lambda: "[page] INC-1 → carol (U3)" in rb.console.getvalue())
        out = rb.console.getvalue()
        assert "[page] INC-1 → alice (U1)" in out and "[page] INC-1 → bob (U2)" in out
        assert sorted(await outbox_pages(rb.bot)) == [(1, "alice"), (1, "bob"), (1, "carol")]


async def test_repeat_runs_every_step_again_then_stops(oncall_dir: Path, sqlite_url: str) -> None:
    """Cycle = last step (20m) + the last gap (10m): round 2 starts at 30m."""
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Down", policy="payments")
        await eventually(lambda: pages(rb.bot))
        for _ in range(12):
            clock.advance(minutes=5)
            await rb.bot.escalation_tick()
        found = await pages(rb.bot)
        assert [(p["round"], p["step"], p["user"]) for p in found] == [
            (1, 1, "alice"),
            (1, 2, "bob"),
            (1, 3, "carol"),
            (2, 1, "alice"),
            (2, 2, "bob"),
            (2, 3, "carol"),
        ]
        offsets = [int((p["at"] - found[0]["at"]).total_seconds() // 60) for p in found]
        assert offsets == [0, 10, 20, 30, 40, 50]
        clock.advance(hours=5)
        await rb.bot.escalation_tick()
        assert len(await pages(rb.bot)) == 6


async def test_acknowledge_stops_escalation(oncall_dir: Path, sqlite_url: str) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Down", policy="payments")
        await eventually(lambda: pages(rb.bot))
        clock.advance(minutes=3)
        result = await rb.bot.act("ack", 1, "alice")
        assert result.outcome == "done"
        clock.advance(hours=2)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice"]


async def test_resolve_stops_escalation(oncall_dir: Path, sqlite_url: str) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Down", policy="payments")
        await eventually(lambda: pages(rb.bot))
        clock.advance(minutes=5)
        await fire(rb.url, status="resolved", alertname="Down", policy="payments")
        clock.advance(hours=2)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice"]


async def test_reopened_incident_restarts_from_step_one(oncall_dir: Path, sqlite_url: str) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Down", policy="payments")
        await eventually(lambda: pages(rb.bot))
        clock.advance(minutes=12)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice", "bob"]
        await fire(rb.url, status="resolved", alertname="Down", policy="payments")
        clock.advance(minutes=2)  # within the 5m flap window: the same incident reopens
        await fire(rb.url, alertname="Down", policy="payments", starts_at="2026-11-20T12:13:30Z")
        found = await eventually(lambda: more_pages_than(rb.bot, 2))
        assert who(found) == ["alice", "bob", "alice"]
        assert {p["incident"] for p in found} == {1}
        assert found[2]["text"].startswith("Paged alice (round 1 step 1: schedule:primary")
        clock.advance(minutes=10)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice", "bob", "alice", "bob"]


async def test_ack_timeout_pages_again_while_still_firing(
    oncall_dir: Path, sqlite_url: str
) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Slow", policy="sticky")
        await eventually(lambda: pages(rb.bot))
        await rb.bot.act("ack", 1, "alice")
        clock.advance(minutes=29)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice"]
        clock.advance(minutes=1)
        await rb.bot.escalation_tick()
        found = await pages(rb.bot)
        assert who(found) == ["alice", "alice"]
        assert "ack expired" in found[1]["text"]
        assert await state(rb.bot, 1) == "triggered"


async def test_ack_timeout_does_not_page_once_resolved(oncall_dir: Path, sqlite_url: str) -> None:
    clock = Clock()
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Slow", policy="sticky")
        await eventually(lambda: pages(rb.bot))
        await rb.bot.act("ack", 1, "alice")
        clock.advance(minutes=10)
        await fire(rb.url, status="resolved", alertname="Slow", policy="sticky")
        clock.advance(hours=1)
        await rb.bot.escalation_tick()
        assert who(await pages(rb.bot)) == ["alice"]


async def test_step_outside_its_window_waits_for_working_hours(
    oncall_dir: Path, sqlite_url: str
) -> None:
    """Friday 17:30 in Berlin is after hours: the page waits until Monday 09:00 Berlin."""
    clock = Clock(datetime(2026, 11, 20, 16, 30, tzinfo=UTC))
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Report", policy="office", starts_at="2026-11-20T16:29:00Z")
        await eventually(lambda: _waiting(rb.bot))
        assert await pages(rb.bot) == []
        clock.now = datetime(2026, 11, 23, 7, 59, tzinfo=UTC)  # Mon 08:59 Berlin
        await rb.bot.escalation_tick()
        assert await pages(rb.bot) == []
        clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Mon 09:00 Berlin
        await rb.bot.escalation_tick()
        found = await pages(rb.bot)
        assert who(found) == ["alice"] and found[0]["at"] == clock.now


async def test_step_inside_its_window_pages_at_once(oncall_dir: Path, sqlite_url: str) -> None:
    clock = Clock()  # Friday 13:00 in Berlin
    async with running_bot(oncall_dir, sqlite_url, clock=clock) as rb:
        await fire(rb.url, alertname="Report", policy="office")
        found = await eventually(lambda: pages(rb.bot))
        assert who(found) == ["alice"] and found[0]["at"] == clock.now


async def _waiting(bot: Pagerbot) -> bool:
    return "escalation_waiting" in await event_kinds(bot)

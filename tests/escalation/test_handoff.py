"""Handoff digests through the real bot: sent once at the shift change (even with two
replicas), retried when the chat fails, escalated when not accepted in time."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.escalation.handoffs import Accepted, accept_handoff
from bot.notify import ConsoleNotifier
from bot.silences import parse_cli_matcher
from tests.escalation.conftest import fire, outbox_drained, pages
from tests.helpers import Clock, RunningBot, eventually, running_bot

RULES = """
teams:
  payments:
    members: {alice: {slack: U1}, bob: {slack: U2}, carol: {slack: U3}}
schedules:
  primary:
    timezone: UTC
    handoff_ack: 30m
    layers:
      - {rotation: daily, start: 2026-11-01T09:00, handoff: "09:00", members: [alice, bob]}
escalation_policies:
  payments: {steps: [{notify: schedule:primary}]}
defaults: {group_by: [alertname], flap_window: 10m}
routes:
  - {match: {team: payments}, team: payments, escalation: payments}
"""
BEFORE = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # alice's shift; bob's starts at 09:00


@pytest.fixture
def handoff_dir(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "oncall.yaml").write_text(RULES, encoding="utf-8")
    return root


def told(console: io.StringIO | str, user: str) -> list[str]:
    text = console if isinstance(console, str) else console.getvalue()
    return re.findall(rf"^\[to {user}\] .*(?:\n(?!\[).*)*", text, flags=re.M)


async def _last_shift(rb: RunningBot, clock: Clock) -> None:
    """During alice's shift: one incident paged, one flapping, a silence ending at 15:00."""
    await fire(rb.url, alertname="Down", team="payments", starts_at="2026-11-20T07:59:00Z")
    await eventually(lambda: pages(rb.bot))
    await fire(rb.url, alertname="Flappy", team="payments", starts_at="2026-11-20T07:59:00Z")
    await rb.bot.escalation_tick()
    clock.advance(minutes=1)
    await fire(rb.url, status="resolved", alertname="Flappy", team="payments")
    clock.advance(minutes=1)
    await fire(rb.url, alertname="Flappy", team="payments", starts_at="2026-11-20T08:01:30Z")
    await rb.bot.silences.add(
        matchers=[parse_cli_matcher("alertname=Noisy<&>")],
        ends_at=datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
        owner="carol",
        reason="disk swap",
        created_by="carol",
    )
    await rb.bot.escalation_tick()
    await eventually(lambda: outbox_drained(rb.bot))


async def test_incoming_person_gets_one_digest_at_the_shift_change(
    handoff_dir: Path, sqlite_url: str
) -> None:
    clock = Clock(BEFORE)
    async with running_bot(handoff_dir, sqlite_url, clock=clock) as rb:
        await _last_shift(rb, clock)
        await rb.bot.handoff_tick()
        assert told(rb.console, "bob") == []  # alice's handoff was 23h ago: no digest now
        clock.now = datetime(2026, 11, 20, 9, 0, 30, tzinfo=UTC)
        await rb.bot.handoff_tick()
        (digest,) = await eventually(lambda: told(rb.console, "bob"))
        assert digest.startswith(
            "[to bob] You are on call for primary until Sat 21 Nov 09:00 (UTC); "
            "handoff from alice at Fri 20 Nov 09:00."
        )
        assert "Open incidents: 2" in digest
        assert "INC-1 [triggered] Down" in digest
        assert "Silences ending during your shift: 1" in digest
        assert 'alertname="Noisy<&>"' in digest and "disk swap" in digest
        assert "Flapping: 1\n  • INC-2 Flappy (1x)" in digest
        assert "Pages in the last shift: 3" in digest  # Down, Flappy, Flappy again
        assert "INC-1 → alice" in digest
        assert "Accept it within 30m (`pagerbot oncall accept primary`)" in digest
        for _ in range(3):
            clock.advance(seconds=20)
            await rb.bot.handoff_tick()
        assert len(told(rb.console, "bob")) == 1
        assert told(rb.console, "alice") == []


async def test_unaccepted_handoff_goes_to_the_outgoing_person_and_the_team(
    handoff_dir: Path, sqlite_url: str
) -> None:
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    async with running_bot(handoff_dir, sqlite_url, clock=clock) as rb:
        await rb.bot.handoff_tick()
        await eventually(lambda: told(rb.console, "bob"))
        clock.advance(minutes=29, seconds=59)
        await rb.bot.handoff_tick()
        assert told(rb.console, "alice") == [] and told(rb.console, "carol") == []
        clock.advance(seconds=1)
        await rb.bot.handoff_tick()
        (to_alice,) = await eventually(lambda: told(rb.console, "alice"))
        assert "bob has not accepted the primary handoff of Fri 20 Nov 09:00" in to_alice
        assert "alice: please stay on" in to_alice
        assert len(told(rb.console, "carol")) == 1
        assert len(told(rb.console, "bob")) == 1  # the digest, not the escalation
        clock.advance(minutes=30)
        await rb.bot.handoff_tick()
        assert len(told(rb.console, "alice")) == 1
        late = await accept_handoff(rb.bot.store, schedule="primary", user="bob")
        assert late.outcome == Accepted.DONE and "after it was escalated" in late.text


async def test_accepted_handoff_does_not_escalate(handoff_dir: Path, sqlite_url: str) -> None:
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    async with running_bot(handoff_dir, sqlite_url, clock=clock) as rb:
        store = rb.bot.store
        none_yet = await accept_handoff(store, schedule="primary", user="bob")
        assert none_yet.outcome == Accepted.NOT_FOUND
        await rb.bot.handoff_tick()
        await eventually(lambda: told(rb.console, "bob"))
        clock.advance(minutes=10)
        wrong = await accept_handoff(store, schedule="primary", user="alice")
        assert wrong.outcome == Accepted.NOT_YOURS and "went to bob" in wrong.text
        done = await accept_handoff(store, schedule="primary", user="bob")
        assert done.outcome == Accepted.DONE
        again = await accept_handoff(store, schedule="primary", user="bob")
        assert again.outcome == Accepted.ALREADY
        clock.advance(hours=1)
        await rb.bot.handoff_tick()
        assert told(rb.console, "alice") == [] and told(rb.console, "carol") == []


class FlakyNotifier(ConsoleNotifier):
    def __init__(self, out: io.StringIO, failures: int) -> None:
        super().__init__(out)
        self.failures = failures

    async def notify_user(self, user: str, text: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("chat down")
        await super().notify_user(user, text)


async def test_digest_that_failed_is_sent_later_once(handoff_dir: Path, sqlite_url: str) -> None:
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    out = io.StringIO()
    notifier = FlakyNotifier(out, failures=1)
    async with running_bot(handoff_dir, sqlite_url, clock=clock, notifier=notifier) as rb:
        await rb.bot.handoff_tick()
        await eventually(lambda: notifier.failures == 0)
        await rb.bot.handoff_tick()
        assert told(out, "bob") == []  # still within the retry delay
        clock.advance(minutes=1)
        await rb.bot.handoff_tick()
        await eventually(lambda: told(out, "bob"))
        clock.advance(minutes=1)
        await rb.bot.handoff_tick()
        assert len(told(out, "bob")) == 1


async def _two_replicas(url: str, handoff_dir: Path) -> None:
    clock = Clock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    async with (
        running_bot(handoff_dir, url, clock=clock) as one,
        running_bot(handoff_dir, url, clock=clock) as two,
    ):

        def both() -> str:
            return one.console.getvalue() + two.console.getvalue()

        for _ in range(3):
            await asyncio.gather(*(b.bot.handoff_tick() for b in (one, two, one, two)))
            clock.advance(seconds=10)
        assert len(told(both(), "bob")) == 1
        clock.advance(minutes=30)
        for _ in range(3):
            await asyncio.gather(*(b.bot.handoff_tick() for b in (one, two, one, two)))
            clock.advance(seconds=10)
        assert len(told(both(), "alice")) == 1 and len(told(both(), "carol")) == 1
        assert len(told(both(), "bob")) == 1


@pytest.mark.postgres
async def test_two_replicas_on_postgresql_send_each_digest_once(
    handoff_dir: Path, postgres_url: str
) -> None:
    await _two_replicas(postgres_url, handoff_dir)


async def test_two_replicas_on_sqlite_send_each_digest_once(
    handoff_dir: Path, sqlite_url: str
) -> None:
    await _two_replicas(sqlite_url, handoff_dir)

"""Muting through the running bot: stored and visible, never posted, re-evaluated."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.app import Pagerbot
from bot.rules.matchers import Matcher
from bot.store import queries
from tests.helpers import Clock, am_alert, am_webhook, running_bot

RULES = """
teams:
  ops: {channel: "#ops", members: {alice: {slack: U1}}}
defaults: {group_by: [alertname], team: ops}
inhibit_rules:
  - source: {alertname: DatacenterDown}
    target: {severity: warning}
    equal: [datacenter]
"""


@pytest.fixture
def mute_config(tmp_path: Path) -> Path:
    root = tmp_path / "cfg"
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "r.yaml").write_text(RULES)
    return root


async def _post(url: str, *alerts: dict[str, object]) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/webhooks/alertmanager", data=am_webhook(*alerts)) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def _silence(
    bot: Pagerbot, matcher: str, ends_at: datetime, reason: str, *, created_by: str = "alice"
) -> int:
    """A run-time silence owned by alice."""
    return await bot.silences.add(
        matchers=[Matcher.parse(matcher)],
        ends_at=ends_at,
        owner="alice",
        reason=reason,
        created_by=created_by,
    )


async def test_silenced_alert_is_stored_not_posted_then_posted_when_silence_ends(
    mute_config: Path, database_url: str
) -> None:
    clock = Clock()
    async with running_bot(mute_config, database_url, clock=clock) as rb:
        bot = rb.bot
        await bot.dispatcher.stop()
        silence_id = await _silence(
            bot, 'alertname="DiskFull"', clock.now + timedelta(hours=2), "disk swap in progress"
        )
        await bot.remute()
        await _post(rb.url, am_alert(alertname="DiskFull", host="db1"))
        incident = await bot.store.read(lambda s: queries.incident(s, 1))
        assert incident is not None and incident.muted and incident.firing_count == 1
        (row,) = await bot.store.read(lambda s: queries.incident_alerts(s, 1))
        assert row.muted_by == f"silence:{silence_id}"
        events = await bot.store.read(lambda s: queries.timeline(s, 1))
        assert [e.kind for e in events] == ["opened", "alerts_firing", "alerts_muted"]
        assert "disk swap in progress" in events[-1].text and "alice" in events[-1].text
        await bot.dispatcher.deliver_due()
        assert "[INC-1]" not in rb.console.getvalue()  # muted: nobody is told

        await bot.silences.expire(silence_id)
        assert await bot.remute() == 1
        incident = await bot.store.read(lambda s: queries.incident(s, 1))
        assert incident is not None and not incident.muted
        kinds = [e.kind for e in await bot.store.read(lambda s: queries.timeline(s, 1))]
        assert kinds[-1] == "alerts_unmuted"
        await bot.dispatcher.deliver_due()
        out = rb.console.getvalue()
        assert "[INC-1] TRIGGERED DiskFull" in out
        assert "silenced by silence:" in out and "no longer muted" in out  # its whole story


async def test_silence_ending_by_time_unmutes(mute_config: Path, sqlite_url: str) -> None:
    clock = Clock()
    async with running_bot(mute_config, sqlite_url, clock=clock) as rb:
        await _silence(rb.bot, 'alertname="A"', clock.now + timedelta(minutes=30), "r")
        await rb.bot.remute()
        await _post(rb.url, am_alert(alertname="A"))
        assert await rb.bot.remute() == 0
        clock.advance(minutes=31)
        assert await rb.bot.remute() == 1
        incident = await rb.bot.store.read(lambda s: queries.incident(s, 1))
        assert incident is not None and incident.muted_count == 0


async def test_inhibition_mutes_already_firing_targets_and_lets_go(
    mute_config: Path, database_url: str
) -> None:
    async with running_bot(mute_config, database_url) as rb:
        bot = rb.bot
        await _post(rb.url, am_alert(alertname="DiskSlow", datacenter="fra", severity="warning"))
        await _post(rb.url, am_alert(alertname="DiskSlow", datacenter="ams", severity="warning"))
        await _post(rb.url, am_alert(alertname="DatacenterDown", datacenter="fra"))
        assert await bot.remute() == 1  # only fra's warning
        rows = await bot.store.read(lambda s: queries.incident_alerts(s, 1))
        by_dc = {r.labels: r.muted_by for r in rows}
        assert str(next(v for k, v in by_dc.items() if '"fra"' in k)).startswith("inhibited:")
        assert next(v for k, v in by_dc.items() if '"ams"' in k) is None
        # A new warning in fra is muted as it arrives.
        await _post(
            rb.url, am_alert(alertname="DiskSlow", datacenter="fra", severity="warning", host="h2")
        )
        rows = await bot.store.read(lambda s: queries.incident_alerts(s, 1))
        assert sum(1 for r in rows if r.muted_by) == 2
        # The datacenter comes back: its warnings are no longer muted.
        await _post(
            rb.url,
            am_alert(
                "resolved",
                alertname="DatacenterDown",
                datacenter="fra",
                ends_at="2026-11-20T12:00:00Z",
            ),
        )
        assert await bot.remute() == 2
        rows = await bot.store.read(lambda s: queries.incident_alerts(s, 1))
        assert all(r.muted_by is None for r in rows)


async def test_owner_is_reminded_before_expiry_and_when_unused(
    mute_config: Path, sqlite_url: str
) -> None:
    clock = Clock()
    async with running_bot(mute_config, sqlite_url, clock=clock) as rb:
        bot = rb.bot
        await _silence(
            bot, 'alertname="Never"', clock.now + timedelta(days=3), "flaky probe", created_by="bob"
        )
        assert await bot.remind() == 0
        clock.advance(days=1, minutes=1)
        assert await bot.remind() == 1
        assert "[to alice] Your silence #1" in rb.console.getvalue()
        assert "matched no alert for a day" in rb.console.getvalue()
        assert await bot.remind() == 0  # once a day, not every minute
        clock.advance(days=1, hours=23)  # an hour before the end
        assert await bot.remind() == 2  # expiry notice, and still unused
        assert "expires at" in rb.console.getvalue()
        assert await bot.remind() == 0


async def test_remute_and_inhibition_reload_read_the_store_page_by_page(
    mute_config: Path, database_url: str
) -> None:
    """More firing alerts than one page: every one is re-muted, and a source alert
    stored on the last page still inhibits after the index is rebuilt from the store."""
    clock = Clock()
    count = queries.FIRING_PAGE + 500
    async with running_bot(mute_config, database_url, clock=clock) as rb:
        bot = rb.bot
        for start in range(0, count, 500):
            await _post(
                rb.url,
                *(
                    am_alert(alertname=f"Disk{i % 3}", host=f"h{i}", severity="critical")
                    for i in range(start, min(start + 500, count))
                ),
            )
        await _post(rb.url, am_alert(alertname="DatacenterDown", datacenter="fra"))
        await bot.remute()
        bot.muting.muter.inhibitor.reset()  # as a fresh replica would start
        await bot.muting.load()
        await _post(
            rb.url, am_alert(alertname="Fan", datacenter="fra", severity="warning", host="x")
        )
        (fan,) = await bot.store.read(lambda s: queries.incident_alerts(s, 5))
        assert str(fan.muted_by).startswith("inhibited:")

        await _silence(
            bot, 'severity="critical"', clock.now + timedelta(hours=1), "storage migration"
        )
        assert await bot.remute() == count
        muted = 0
        for number in (1, 2, 3):
            rows = await bot.store.read(lambda s, n=number: queries.incident_alerts(s, n))
            muted += sum(1 for r in rows if str(r.muted_by).startswith("silence:"))
        assert muted == count


async def test_with_nothing_to_mute_a_remute_reads_only_the_alerts_muted_before(
    mute_config: Path, database_url: str
) -> None:
    """After a restart in a storm, reading every firing alert beside ingest held up the
    webhooks for most of a second. When no silence, window or inhibition source is
    live, only an alert muted before can change: the remute reads just those."""
    clock = Clock()
    async with running_bot(mute_config, database_url, clock=clock) as rb:
        bot = rb.bot
        await _silence(bot, 'alertname="Muted"', clock.now + timedelta(minutes=30), "r")
        await bot.remute()
        for start in range(0, queries.FIRING_PAGE + 500, 500):
            await _post(
                rb.url, *(am_alert(alertname="Disk", host=f"h{start + i}") for i in range(500))
            )
        await _post(rb.url, am_alert(alertname="Muted"))
        clock.advance(minutes=31)
        statements: list[str] = []

        def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(Engine, "before_cursor_execute", seen)
        try:
            assert await bot.remute() == 1
        finally:
            event.remove(Engine, "before_cursor_execute", seen)
        pages = [s for s in statements if "FROM alerts JOIN incidents" in s]
        assert len(pages) == 1, pages  # one page: not the 2,500 unmuted alerts
        (row,) = await bot.store.read(lambda s: queries.incident_alerts(s, 2))
        assert row.muted_by is None

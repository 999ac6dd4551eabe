"""A hot reload must not forget which source alerts are firing: inhibition keeps working
across it, for the rules that stay and for rules the edit adds."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot.store import queries
from tests.helpers import am_alert, am_webhook, running_bot

RULES = """
teams:
  ops: {channel: "#ops", members: {alice: {slack: U1}}}
defaults: {group_by: [alertname], team: ops}
inhibit_rules:
  - source: {alertname: DatacenterDown}
    target: {severity: warning}
    equal: [datacenter]
"""
ADDED = """
  - source: {alertname: NetworkDown}
    target: {severity: critical}
    equal: [datacenter]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "cfg"
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "r.yaml").write_text(RULES)
    return root


async def _post(url: str, **labels: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/webhooks/alertmanager", data=am_webhook(am_alert(**labels))) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def test_inhibition_survives_a_reload(config: Path, sqlite_url: str) -> None:
    async with running_bot(config, sqlite_url) as rb:
        bot = rb.bot
        await _post(rb.url, alertname="DatacenterDown", datacenter="fra")
        await _post(rb.url, alertname="NetworkDown", datacenter="fra")
        (config / "rules" / "r.yaml").write_text(RULES + ADDED)
        assert await bot.watch_config() is True

        await _post(rb.url, alertname="DiskSlow", datacenter="fra", severity="warning")
        await _post(rb.url, alertname="LinkLost", datacenter="fra", severity="critical")
        muted = {}
        for number in (3, 4):
            (row,) = await bot.store.read(lambda s, n=number: queries.incident_alerts(s, n))
            muted[number] = row.muted_by
        assert str(muted[3]).startswith("inhibited:")  # a rule that was there before
        assert str(muted[4]).startswith("inhibited:")  # the rule the edit added

"""The real bot wired to the Slack stand-in, and a config with two teams and a schedule."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.pacing import Pacer
from bot.chat.slack import SlackNotifier
from tests.chat.signing import SECRET, SlackSender
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, RunningBot, am_alert, am_webhook, running_bot

ALICE, BOB, CAROL, DAVE, STRANGER = "UALICE", "UBOB", "UCAROL", "UDAVE", "USTRANGER"

RULES = """
teams:
  payments:
    channel: "#payments"
    members:
      alice: {slack: UALICE, tz: Europe/Berlin}
      bob: {slack: UBOB}
      carol: {slack: UCAROL}
  platform:
    channel: "#platform"
    members:
      dave: {slack: UDAVE}
schedules:
  payments-primary:       # alice on call 16-23 Nov 2026, then bob, then carol
    timezone: Europe/Berlin
    layers:
      - rotation: weekly
        start: 2026-11-16T09:00
        handoff: "Mon 09:00"
        members: [alice, bob, carol]
escalation_policies:
  payments:
    - {notify: schedule:payments-primary, after: 0m}
    - {notify: team:payments, after: 10m}
defaults:
  group_by: [alertname]
routes:
  - match: {team: payments}
    group_by: [alertname, cluster]
    team: payments
    escalation: payments
"""


def write_config(root: Path) -> Path:
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "teams.yaml").write_text(RULES, encoding="utf-8")
    return root


@contextlib.asynccontextmanager
async def slack_bot(
    tmp_path: Path, database_url: str, slack: SlackStandin, clock: Clock, **settings: Any
) -> AsyncIterator[tuple[RunningBot, SlackSender]]:
    options: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "config_poll_seconds": 0,
        # Answer inline however loaded the test machine is; the slow path has its own test.
        "slack_reply_within": 60,
    }
    options.update(settings)
    config = write_config(tmp_path / "config")
    client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url, retry_handlers=[])
    notifier = SlackNotifier(client, pacer=Pacer(interval=0.0))
    async with running_bot(
        config, database_url, clock=clock, notifier=notifier, **options
    ) as running:
        sender = SlackSender(running.url)
        try:
            yield running, sender
        finally:
            await sender.close()


def checkout_down(cluster: str = "eu1") -> bytes:
    alert = am_alert(alertname="CheckoutDown", team="payments", cluster=cluster)
    return am_webhook(alert, group_key=f'{{}}:{{alertname="CheckoutDown",cluster="{cluster}"}}')

"""Socket Mode: with SLACK_APP_TOKEN the bot fetches its websocket URL from
apps.connections.open (the stand-in answers with its own ws:// URL on 127.0.0.1),
connects, and acks every envelope with the command's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from bot.store import queries
from tests.chat.slack_bot import BOB, slack_bot
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, eventually


def _envelope(envelope_id: str, text: str, trigger_id: str, retry: int = 0) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
        "payload": {
            "token": "deprecated",
            "team_id": "T0",
            "channel_id": "C000001",
            "channel_name": "payments",
            "user_id": BOB,
            "user_name": "bob",
            "command": "/incident",
            "text": text,
            "api_app_id": "A1",
            "response_url": "https://hooks.slack.com/commands/T0/1/x",
            "trigger_id": trigger_id,
        },
    }


def _acks(slack: SlackStandin, envelope_id: str) -> list[dict[str, Any]]:
    return [m for m in slack.socket_received if m.get("envelope_id") == envelope_id]


async def test_socket_mode_connects_and_acks_with_the_answer(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(
        tmp_path,
        sqlite_url,
        slack_standin,
        Clock(),
        SLACK_APP_TOKEN="xapp-1-test",
        SLACK_SIGNING_SECRET=None,
    ) as (running, _):
        await eventually(slack_standin.socket_connected.is_set)
        await slack_standin.socket_send(_envelope("env-1", "new Socket outage p2", "7.7.a"))
        ack = await eventually(lambda: _acks(slack_standin, "env-1"))
        # A redelivery (Slack saw no ack in time) carries the same trigger id.
        await slack_standin.socket_send(_envelope("env-2", "new Socket outage p2", "7.7.a", 1))
        again = await eventually(lambda: _acks(slack_standin, "env-2"))
        incidents = await running.bot.store.read(lambda s: list(queries.incidents(s)))
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{running.url}/slack/events", data=b"x=1") as http,
        ):
            http_status = http.status
    opened = slack_standin.calls_to("apps.connections.open")
    assert opened and opened[0].token == "xapp-1-test"  # the app token, not the bot token
    assert ack[0]["payload"]["response_type"] == "in_channel"
    assert "bob opened *INC-1* Socket outage (p2)" in ack[0]["payload"]["text"]
    assert again[0]["payload"] == ack[0]["payload"]
    assert [i.title for i in incidents] == ["Socket outage"]
    assert http_status == 404  # no signing secret: HTTP mode is off

"""/slack/events accepts only requests signed with the signing secret, within 5 minutes."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from bot.store import queries
from tests.chat.signing import block_action, interaction_body, slash_body
from tests.chat.slack_bot import BOB, slack_bot, write_config
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, running_bot


async def test_a_correctly_signed_command_is_answered(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (_, slack):
        status, answer = await slack.post(slash_body("/incident", "help", user_id=BOB))
    assert status == 200
    assert isinstance(answer, dict)
    assert answer["response_type"] == "ephemeral"
    assert "/incident new <title>" in answer["text"]


async def test_forged_and_stale_signatures_are_refused(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        body = slash_body("/incident", "new Forged incident", user_id=BOB)
        forged = await slack.post(body, secret="not-the-secret")
        stale = await slack.post(body, timestamp=int(time.time()) - 301)
        future = await slack.post(body, timestamp=int(time.time()) + 301)
        tampered_headers = {"X-Slack-Signature": "v0=" + "0" * 64}
        tampered = await slack.post(body, headers=tampered_headers)
        button = interaction_body(block_action("incident:ack", user_id=BOB, value="1"))
        forged_button = await slack.post(button, secret="not-the-secret")
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{running.url}/slack/events", data=body) as unsigned,
        ):
            unsigned_status = unsigned.status
        opened = await running.bot.store.read(lambda s: queries.incidents(s))
    assert [forged[0], stale[0], future[0], tampered[0], forged_button[0]] == [401] * 5
    assert unsigned_status == 401
    assert list(opened) == []  # nothing forged reached the handlers
    assert slack_standin.calls_to("chat.postEphemeral") == []


async def test_without_slack_settings_the_endpoint_says_so(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path / "config")
    async with (
        running_bot(config, sqlite_url) as running,
        aiohttp.ClientSession() as session,
        session.post(f"{running.url}/slack/events", data=b"payload=%7B%7D") as response,
    ):
        body = await response.json()
    assert response.status == 404
    assert "SLACK_SIGNING_SECRET" in body["error"]

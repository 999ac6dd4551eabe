"""The buttons of incident messages, page DMs and cover requests, pressed through the
real bot: signed interaction payloads in; database and the stand-in's calls checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import select

from bot.store import chat as db
from bot.store import queries
from bot.store.tables import Silence
from tests.chat.signing import block_action, interaction_body
from tests.chat.slack_bot import ALICE, BOB, CAROL, DAVE, checkout_down, slack_bot
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, RunningBot, eventually


async def _open_incident(running: RunningBot, slack: SlackStandin) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{running.url}/webhooks/alertmanager", data=checkout_down()) as response,
    ):
        assert response.status == 200
    messages = await eventually(lambda: slack.channel_messages("#payments"))
    return messages[0].channel


async def _incident(running: RunningBot, number: int = 1) -> Any:
    return await running.bot.store.read(lambda s: queries.incident(s, number))


async def _kinds(running: RunningBot, number: int = 1) -> list[tuple[str, str]]:
    rows = await running.bot.store.read(lambda s: queries.timeline(s, number))
    return [(e.kind, e.actor) for e in rows]


async def _has(running: RunningBot, kind: tuple[str, str]) -> bool:
    return kind in await _kinds(running)


async def _muted(running: RunningBot) -> bool:
    return bool((await _incident(running)).muted)


async def _state_is(running: RunningBot, state: str) -> bool:
    return bool((await _incident(running)).state == state)


def _ephemerals(slack: SlackStandin, user: str) -> list[str]:
    return [
        str(c.params["text"])
        for c in slack.calls_to("chat.postEphemeral", ok_only=True)
        if c.params.get("user") == user
    ]


async def test_acknowledge_resolve_and_escalate_buttons(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, database_url, slack_standin, Clock()) as (running, slack):
        channel = await _open_incident(running, slack_standin)
        await slack.press("incident:ack", user_id=BOB, value="1", channel_id=channel)
        await eventually(lambda: _state_is(running, "acknowledged"))
        await slack.press("incident:ack", user_id=BOB, value="1", channel_id=channel)
        await eventually(lambda: _ephemerals(slack_standin, BOB))
        await slack.press("incident:escalate", user_id=BOB, value="1", channel_id=channel)
        await eventually(lambda: _state_is(running, "triggered"))
        await slack.press("incident:resolve", user_id=BOB, value="1", channel_id=channel)
        await eventually(lambda: _state_is(running, "resolved"))
        kinds = await _kinds(running)
        message = slack_standin.channel_messages(channel)[0]
        await eventually(lambda: "resolved" in message.text)  # updated in place
    assert [k for k in kinds if k[1] == "bob"] == [
        ("acknowledged", "bob"),
        ("escalated", "bob"),
        ("resolved", "bob"),
    ]
    # Only the second ack, which changed nothing, got a word back.
    assert _ephemerals(slack_standin, BOB) == ["INC-1 is acknowledged"]


async def test_buttons_refuse_outsiders_in_an_ephemeral_message(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        channel = await _open_incident(running, slack_standin)
        await slack.press("incident:resolve", user_id=DAVE, value="1", channel_id=channel)
        await slack.press("incident:silence", user_id=DAVE, selected="1:1h", channel_id=channel)
        await eventually(lambda: len(_ephemerals(slack_standin, DAVE)) == 2)
        incident = await _incident(running)
        silences = await running.bot.store.read(lambda s: list(s.exec(select(Silence))))
    assert incident.state == "triggered"
    assert silences == []
    refusals = _ephemerals(slack_standin, DAVE)
    assert len(refusals) == 2
    assert all(
        t.startswith(":no_entry: only people paged or members of team payments") for t in refusals
    )
    assert {c.params["channel"] for c in slack_standin.calls_to("chat.postEphemeral")} == {channel}


async def test_a_redelivered_press_is_applied_once(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        channel = await _open_incident(running, slack_standin)
        body = interaction_body(
            block_action("incident:escalate", user_id=BOB, value="1", channel_id=channel)
        )
        first = await slack.post(body)
        again = await slack.post(body, headers={"X-Slack-Retry-Num": "1"})
        told = await eventually(lambda: _ephemerals(slack_standin, BOB))
        await eventually(lambda: _has(running, ("escalated", "bob")))
        kinds = await _kinds(running)
    assert (first[0], again[0]) == (200, 200)
    assert kinds.count(("escalated", "bob")) == 1
    assert told == ["Already done: Slack delivered this escalate twice. INC-1"]


async def test_silence_select_silences_the_group(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    async with slack_bot(tmp_path, database_url, slack_standin, clock) as (running, slack):
        channel = await _open_incident(running, slack_standin)
        await slack.press("incident:silence", user_id=ALICE, selected="1:4h", channel_id=channel)
        await eventually(lambda: _has(running, ("silenced", "alice")))
        await eventually(lambda: _muted(running))  # applied at once, not at the next pass
        silences = await running.bot.store.read(lambda s: list(s.exec(select(Silence))))
        incident = await _incident(running)
        kinds = await _kinds(running)
    assert len(silences) == 1
    assert silences[0].created_by == "alice"
    assert (silences[0].ends_at - clock.now).total_seconds() == 4 * 3600
    assert "INC-1" in silences[0].reason
    assert incident.muted
    assert ("silenced", "alice") in kinds


async def test_noise_feedback_is_stored_per_person(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, database_url, slack_standin, Clock()) as (running, slack):
        channel = await _open_incident(running, slack_standin)
        await slack.press("feedback:noise", user_id=BOB, value="1", channel_id=channel)
        await eventually(lambda: _ephemerals(slack_standin, BOB))
        await slack.press("feedback:actionable", user_id=BOB, value="1", channel_id=channel)
        await eventually(lambda: len(_ephemerals(slack_standin, BOB)) == 2)
        await slack.press("feedback:noise", user_id=ALICE, value="1", channel_id=channel)
        await eventually(lambda: _ephemerals(slack_standin, ALICE))
        await slack.press("feedback:noise", user_id=ALICE, value="42", channel_id=channel)
        await eventually(lambda: len(_ephemerals(slack_standin, ALICE)) == 2)
        answers = await running.bot.store.read(lambda s: db.feedback(s, 1))
    assert answers == {"bob": "actionable", "alice": "noise"}
    assert _ephemerals(slack_standin, BOB)[-1] == ("Thanks, bob: INC-1 recorded as *actionable*.")
    assert "there is no incident INC-42" in _ephemerals(slack_standin, ALICE)[-1]


async def test_cover_request_goes_to_the_first_teammate_who_accepts(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        asked = await slack.command("/oncall", "cover now 8h", user_id=ALICE)
        dms = {
            c.params["channel"]: c.params
            for c in slack_standin.calls_to("chat.postMessage", ok_only=True)
        }
        button = dms[slack_standin.dm_channel(BOB)]["blocks"][1]["elements"][0]
        bob_dm, carol_dm = slack_standin.dm_channel(BOB), slack_standin.dm_channel(CAROL)
        await slack.press("cover:accept", user_id=BOB, value=button["value"], channel_id=bob_dm)
        await eventually(lambda: _ephemerals(slack_standin, BOB))
        await slack.press("cover:accept", user_id=CAROL, value=button["value"], channel_id=carol_dm)
        await eventually(lambda: _ephemerals(slack_standin, CAROL))
        who = await slack.command("/oncall", "who", user_id=ALICE)
        request = await running.bot.store.read(lambda s: db.cover_request(s, 1))
    assert asked["response_type"] == "ephemeral"
    assert "Asked <@UBOB>, <@UCAROL> to cover *payments-primary*" in asked["text"]
    assert set(dms) == {bob_dm, carol_dm}
    assert button["action_id"] == "cover:accept"
    assert request is not None and request.accepted_by == "bob"
    assert who["text"].startswith("*payments-primary*: <@UBOB> until Fri 20 Nov 21:00")
    updates = slack_standin.calls_to("chat.update", ok_only=True)
    assert {c.params["channel"] for c in updates} == {bob_dm, carol_dm}
    assert all(
        "<@UBOB> covers *payments-primary* for <@UALICE>" in c.params["text"] for c in updates
    )
    told = [
        c.params["text"]
        for c in slack_standin.calls_to("chat.postMessage", ok_only=True)
        if c.params["channel"] == slack_standin.dm_channel(ALICE)
    ]
    assert told and "<@UBOB> covers" in told[0]
    assert "already took it" in _ephemerals(slack_standin, CAROL)[-1]
    assert _ephemerals(slack_standin, BOB)[-1].startswith("<@UBOB> covers")

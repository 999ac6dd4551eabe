"""A message in an incident's thread marked with :memo: becomes a timeline note, through
signed Events API requests against the real bot and the Slack stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bot.chat.notes import incident_of_thread
from bot.store import queries
from tests.chat.slack_bot import ALICE, BOB, checkout_down, slack_bot
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, RunningBot, eventually


async def _post_as_user(slack: SlackStandin, channel: str, thread_ts: str, text: str) -> str:
    """A person writes in the thread (through the Web API, as the Slack client would)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{slack.api_url}chat.postMessage",
            data={"channel": channel, "thread_ts": thread_ts, "text": text},
            headers={"Authorization": "Bearer xoxp-user"},
        ) as resp,
    ):
        answer = await resp.json()
    assert answer["ok"], answer
    return str(answer["ts"])


def _reaction(user: str, channel: str, ts: str, reaction: str = "memo") -> bytes:
    return orjson.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{ts.replace('.', '')}{user}{reaction}",
            "event_time": 1700000000,
            "event": {
                "type": "reaction_added",
                "user": user,
                "reaction": reaction,
                "item_user": ALICE,
                "item": {"type": "message", "channel": channel, "ts": ts},
                "event_ts": "1700000000.000200",
            },
        }
    )


async def _notes(running: RunningBot) -> list[tuple[str, str, Any]]:
    def read(session: Any) -> list[tuple[str, str, Any]]:
        return [
            (e.actor, e.text, orjson.loads(e.data).get("source"))
            for e in queries.timeline(session, 1)
            if e.kind == "note"
        ]

    return await running.bot.store.read(read)


async def test_a_marked_thread_message_becomes_a_note_once(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    slack = slack_standin
    async with slack_bot(tmp_path, database_url, slack, Clock()) as (running, sender):
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{running.url}/webhooks/alertmanager", data=checkout_down()) as resp,
        ):
            assert resp.status == 200
        [incident] = await eventually(lambda: slack.channel_messages("#payments"))
        # The bot learns the message's thread when chat.postMessage has answered and the
        # outbox has committed; a person reacts long after that, the test must wait for it.
        await eventually(lambda: _thread_known(running, incident.channel, incident.ts))
        said = await _post_as_user(slack, incident.channel, incident.ts, "rolled back 4.2.1")
        chatter = await _post_as_user(slack, incident.channel, incident.ts, "brb coffee")

        json_body = {"Content-Type": "application/json"}
        status, _ = await sender.post(_reaction(BOB, incident.channel, said), headers=json_body)
        assert status == 200
        [note] = await eventually(lambda: _notes(running))
        assert note[0] == "bob" and note[1] == "rolled back 4.2.1"
        assert note[2] == (
            f"https://standin.slack.com/archives/{incident.channel}/p{said.replace('.', '')}"
        )
        # Redelivered, marked again by someone else, or another emoji: still one note.
        for body in (
            _reaction(BOB, incident.channel, said),
            _reaction(ALICE, incident.channel, said),
            _reaction(BOB, incident.channel, chatter, reaction="coffee"),
        ):
            status, _ = await sender.post(body, headers=json_body)
            assert status == 200
        unsigned = await sender.post(
            _reaction(BOB, incident.channel, chatter), headers=json_body, secret="forged"
        )
        assert unsigned[0] == 401
        # The events above were handled in order; a later marked message shows they ran.
        later = await _post_as_user(slack, incident.channel, incident.ts, "error rate back to 0")
        await sender.post(_reaction(ALICE, incident.channel, later), headers=json_body)
        notes = await eventually(lambda: _count_is(running, 2))
    assert [n[1] for n in notes] == ["rolled back 4.2.1", "error rate back to 0"]
    assert notes[1][0] == "alice"


async def _thread_known(running: RunningBot, channel: str, thread_ts: str) -> bool:
    found = await running.bot.store.read(lambda s: incident_of_thread(s, channel, thread_ts))
    return found == 1


async def _count_is(running: RunningBot, count: int) -> list[tuple[str, str, Any]] | None:
    notes = await _notes(running)
    return notes if len(notes) == count else None

"""Slash commands through the real bot: signed requests in, the database and the Slack
stand-in's recorded calls checked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from sqlmodel import select

from bot.chat.commands import parse_incident, parse_oncall
from bot.chat.context import UsageError
from bot.store import queries
from bot.store.tables import Silence
from tests.chat.signing import slash_body
from tests.chat.slack_bot import ALICE, BOB, DAVE, STRANGER, checkout_down, slack_bot
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, RunningBot, eventually


async def _webhook(running: RunningBot, body: bytes) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{running.url}/webhooks/alertmanager", data=body) as response,
    ):
        assert response.status == 200


async def _incident(running: RunningBot, number: int) -> Any:
    return await running.bot.store.read(lambda s: queries.incident(s, number))


async def _events(running: RunningBot, number: int) -> list[tuple[str, str, str]]:
    rows = await running.bot.store.read(lambda s: queries.timeline(s, number))
    return [(e.kind, e.actor, e.text) for e in rows]


async def _paged(running: RunningBot, number: int) -> bool:
    return any(kind == "paged" for kind, _, _ in await _events(running, number))


# ---------------------------------------------------------------- parsing (pure)


def test_parsing_incident_commands() -> None:
    assert parse_incident("new Checkout is down warning").text == "Checkout is down"
    assert parse_incident("new Checkout is down warning").severity == "warning"
    assert parse_incident('new "Disk full" ').severity == "critical"
    assert parse_incident("ack INC-7").ref == 7
    assert parse_incident("resolve 7").ref == 7
    assert parse_incident("status").ref is None
    note = parse_incident("note INC-3 rolled back <@U1> & co")
    assert (note.ref, note.text) == (3, "rolled back <@U1> & co")
    assert parse_incident("note 3 pods restarted").text == "3 pods restarted"
    silence = parse_incident("silence INC-4 90m")
    assert (silence.ref, silence.duration and silence.duration.total_seconds()) == (4, 5400)
    assert parse_incident("").sub == "help"
    for bad in ("frobnicate", "new", "ack INC-x", "silence", "silence soon", "list them"):
        with pytest.raises(UsageError):
            parse_incident(bad)


def test_parsing_oncall_commands() -> None:
    assert parse_oncall("").sub == "who"
    assert parse_oncall("who payments-primary").schedule == "payments-primary"
    override = parse_oncall("override <@UBOB|bob> now 8h payments-primary")
    assert (override.user, override.window, override.schedule) == (
        "UBOB",
        ("now", "8h"),
        "payments-primary",
    )
    assert parse_oncall("override @bob 18:00 22:00").user == "bob"
    assert parse_oncall("cover now 2d").window == ("now", "2d")
    for bad in ("schedule", "override @bob now", "cover now", "sleep"):
        with pytest.raises(UsageError):
            parse_oncall(bad)


# ---------------------------------------------------------------- /incident


async def test_incident_new_opens_pages_and_survives_a_retry(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, database_url, slack_standin, Clock()) as (running, slack):
        body = slash_body("/incident", "new Checkout <!here> is down warning", user_id=BOB)
        status, first = await slack.post(body)
        # Slack retries with the very same body (and trigger id): nothing more is opened.
        status_retry, again = await slack.post(body, headers={"X-Slack-Retry-Num": "1"})
        incident = await _incident(running, 1)
        second = await _incident(running, 2)
        events = await _events(running, 1)
        await eventually(lambda: slack_standin.calls_to("chat.postMessage", ok_only=True))
    assert (status, status_retry) == (200, 200)
    assert isinstance(first, dict) and isinstance(again, dict)
    assert first["response_type"] == "in_channel"
    assert "bob opened *INC-1* Checkout &lt;!here&gt; is down (warning)" in first["text"]
    assert again == first
    assert second is None
    assert (incident.title, incident.severity, incident.team, incident.state) == (
        "Checkout <!here> is down",
        "warning",
        "payments",
        "triggered",
    )
    assert incident.escalation == "payments"
    assert ("opened", "bob", "Incident opened by bob: Checkout <!here> is down") in events
    paged = [e for e in events if e[0] == "paged"]
    assert paged and "alice" in paged[0][2]  # step 1: the on-call person, at once


async def test_ack_note_escalate_resolve_by_a_team_member(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, database_url, slack_standin, Clock()) as (running, slack):
        await _webhook(running, checkout_down())
        posted = await eventually(lambda: slack_standin.channel_messages("#payments"))
        channel = posted[0].channel
        here = {"user_id": BOB, "channel_id": channel, "channel_name": "payments"}
        listed = await slack.command("/incident", "list", **here)
        status = await slack.command("/incident", "status", **here)
        acked = await slack.command("/incident", "ack", **here)
        acked_again = await slack.command("/incident", "ack INC-1", **here)
        state_after_ack = (await _incident(running, 1)).state
        noted = await slack.command("/incident", "note rolled back <!channel>", **here)
        escalated = await slack.command("/incident", "escalate 1", **here)
        state_after_escalate = (await _incident(running, 1)).state
        resolved = await slack.command("/incident", "resolve", **here)
        incident = await _incident(running, 1)
        events = await _events(running, 1)
    assert listed["response_type"] == "ephemeral" and "*INC-1*" in listed["text"]
    assert status["response_type"] == "ephemeral" and "*triggered*" in status["text"]
    assert acked["response_type"] == "in_channel"
    assert "INC-1* CheckoutDown" in acked["text"] and "acknowledged by bob" in acked["text"]
    assert acked_again["response_type"] == "ephemeral"
    assert "acknowledged" in acked_again["text"]  # harmless: already in that state
    assert state_after_ack == "acknowledged"
    assert noted["response_type"] == "in_channel"
    assert "&lt;!channel&gt;" in noted["text"] and "<!channel>" not in noted["text"]
    assert escalated["response_type"] == "in_channel"
    assert state_after_escalate == "triggered"
    assert resolved["response_type"] == "in_channel"
    assert incident.state == "resolved"
    kinds = [(kind, actor) for kind, actor, _ in events]
    assert ("acknowledged", "bob") in kinds
    assert ("note", "bob") in kinds
    assert ("escalated", "bob") in kinds
    assert ("resolved", "bob") in kinds
    assert ("note", "bob", "rolled back <!channel>") in events  # stored as typed
    assert [k for k, _ in kinds].count("acknowledged") == 1


async def test_outsiders_may_not_ack_and_are_told_why(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        await _webhook(running, checkout_down())
        await eventually(lambda: _incident(running, 1))
        other_team = await slack.command("/incident", "ack INC-1", user_id=DAVE)
        stranger = await slack.command("/incident", "resolve INC-1", user_id=STRANGER)
        # A mention in the text is not who asks: the request's user id is.
        spoof = await slack.command("/incident", f"ack INC-1 <@{BOB}>", user_id=DAVE)
        incident = await _incident(running, 1)
        events = await _events(running, 1)
    assert other_team["response_type"] == "ephemeral"
    assert "only people paged or members of team payments may do that" in other_team["text"]
    assert "dave is not among them" in other_team["text"]
    assert "USTRANGER" in stranger["text"] and stranger["response_type"] == "ephemeral"
    assert spoof["response_type"] == "ephemeral"
    assert incident.state == "triggered"
    assert not [e for e in events if e[0] in ("acknowledged", "resolved")]


async def test_only_the_paged_person_when_so_configured(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(
        tmp_path, sqlite_url, slack_standin, Clock(), slack_responders="paged"
    ) as (running, slack):
        await _webhook(running, checkout_down())
        await eventually(lambda: _paged(running, 1))
        bob = await slack.command("/incident", "ack INC-1", user_id=BOB)
        alice = await slack.command("/incident", "ack INC-1", user_id=ALICE)
        incident = await _incident(running, 1)
    assert bob["response_type"] == "ephemeral" and "only people paged" in bob["text"]
    assert alice["response_type"] == "in_channel"
    assert incident.state == "acknowledged"


async def test_silence_from_a_command_mutes_the_group(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    async with slack_bot(tmp_path, database_url, slack_standin, clock) as (running, slack):
        await _webhook(running, checkout_down())
        await eventually(lambda: _incident(running, 1))
        answer = await slack.command("/incident", "silence 2h INC-1", user_id=BOB)
        silences = await running.bot.store.read(lambda s: list(s.exec(select(Silence))))
        incident = await _incident(running, 1)
        events = await _events(running, 1)
    assert answer["response_type"] == "in_channel"
    assert "silenced for 2h by bob" in answer["text"]
    assert len(silences) == 1
    assert sorted(orjson.loads(silences[0].matchers)) == [
        'alertname="CheckoutDown"',
        'cluster="eu1"',
    ]
    assert silences[0].ends_at == clock.now + timedelta(hours=2)
    assert silences[0].created_by == "bob"
    assert incident.muted  # applied at once, not at the next pass
    assert any(kind == "silenced" and actor == "bob" for kind, actor, _ in events)


async def test_mistakes_get_a_clear_ephemeral_answer_with_usage(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        unknown = await slack.command("/incident", "frobnicate", user_id=BOB)
        nothing_here = await slack.command("/incident", "ack", user_id=BOB)
        missing = await slack.command("/incident", "status INC-99", user_id=BOB)
        bad_duration = await slack.command("/incident", "silence soon INC-1", user_id=BOB)
        await _webhook(running, checkout_down("eu1"))
        await _webhook(running, checkout_down("us1"))
        await eventually(lambda: _incident(running, 2))
        await eventually(lambda: len(slack_standin.channel_messages("#payments")) == 2)
        channel = slack_standin.channel_id("#payments")
        ambiguous = await slack.command(
            "/incident", "resolve", user_id=BOB, channel_id=channel, channel_name="payments"
        )
        postmortem = await slack.command("/incident", "postmortem INC-1", user_id=BOB)
    for answer in (unknown, nothing_here, missing, bad_duration, ambiguous):
        assert answer["response_type"] == "ephemeral"
        assert "/incident new <title>" in answer["text"]  # the usage comes along
    assert "unknown subcommand 'frobnicate'" in unknown["text"]
    assert "No open incident here" in nothing_here["text"]
    assert "no incident INC-99" in missing["text"]
    assert "'soon'" in bad_duration["text"]
    assert "2 are open here (INC-1, INC-2)" in ambiguous["text"]
    assert postmortem["response_type"] == "ephemeral"
    assert postmortem["text"].startswith(":page_facing_up: Post-mortem draft of *INC-1*")
    assert (
        f"<{running.bot.settings.base_url}/incidents/1/postmortem|Markdown>" in postmortem["text"]
    )
    assert "CheckoutDown" in postmortem["text"].split("```")[1]  # the draft itself
    # ... and the whole draft is posted as a file in the incident's thread.
    assert postmortem["text"].endswith("Posted to the incident's thread as a file.")
    incident_message = slack_standin.channel_messages("#payments")[0]
    [done] = slack_standin.calls_to("files.completeUploadExternal", ok_only=True)
    assert (done.params["channel_id"], done.params["thread_ts"]) == (
        incident_message.channel,
        incident_message.ts,
    )
    [upload] = [c for c in slack_standin.calls if c.method == "upload"]
    uploaded = slack_standin.uploads[upload.params["file_id"]].decode()
    assert uploaded.startswith("# ") and "CheckoutDown" in uploaded


async def test_command_names_are_configurable(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(
        tmp_path, sqlite_url, slack_standin, Clock(), slack_incident_command="/inc"
    ) as (_, slack):
        renamed = await slack.command("/inc", "help", user_id=BOB, channel_id="C9")
        status, old = await slack.post(slash_body("/incident", "help", user_id=BOB))
    assert "`/inc new <title> [severity]`" in renamed["text"]
    assert status == 404 or old != renamed  # the old name is nobody's command now


async def test_slow_work_acks_first_and_answers_through_response_url(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    response_url = f"{slack_standin.api_url}response_url.T0.1"
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock(), slack_reply_within=0) as (
        running,
        slack,
    ):
        first = await slack.command(
            "/incident", "new Payments queue stuck", user_id=BOB, response_url=response_url
        )
        late = await eventually(lambda: slack_standin.calls_to("response_url.T0.1"))
        incident = await _incident(running, 1)
    assert first["response_type"] == "ephemeral"
    assert "Working on it" in first["text"]
    assert late[0].params["response_type"] == "in_channel"
    assert "opened *INC-1* Payments queue stuck" in late[0].params["text"]
    assert incident.title == "Payments queue stuck"


# ---------------------------------------------------------------- /oncall


async def test_oncall_who_schedule_and_override(
    tmp_path: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(tmp_path, sqlite_url, slack_standin, Clock()) as (running, slack):
        who = await slack.command("/oncall", "who", user_id=BOB)
        shifts = await slack.command("/oncall", "schedule payments-primary", user_id=BOB)
        done = await slack.command("/oncall", f"override <@{BOB}|bob> now 8h", user_id=ALICE)
        who_after = await slack.command("/oncall", "who payments-primary", user_id=BOB)
        refused = await slack.command("/oncall", "override @bob now 1h", user_id=STRANGER)
        unknown = await slack.command("/oncall", "override @zed now 1h", user_id=ALICE)
        backwards = await slack.command("/oncall", "override @bob 18:00 2026-11-19", user_id=ALICE)
        yaml_text = (running.bot.settings.config_dir / "rules" / "teams.yaml").read_text()
    assert who["response_type"] == "ephemeral"
    assert who["text"] == ("*payments-primary*: <@UALICE> until Mon 23 Nov 09:00 (Europe/Berlin)")
    lines = shifts["text"].splitlines()
    assert lines[0] == "*payments-primary* — next shifts (Europe/Berlin)"
    assert lines[1] == "• Fri 20 Nov 13:00 → Mon 23 Nov 09:00  <@UALICE>"
    assert lines[2] == "• Mon 23 Nov 09:00 → Mon 30 Nov 09:00  <@UBOB>"
    assert lines[3] == "• Mon 30 Nov 09:00 → Mon 07 Dec 09:00  <@UCAROL>"
    assert done["response_type"] == "in_channel"
    assert "alice put <@UBOB> on call for *payments-primary* from Fri 20 Nov 13:00" in done["text"]
    assert "to Fri 20 Nov 21:00 (Europe/Berlin); written to `rules/teams.yaml`" in done["text"]
    assert "- {user: bob, from: 2026-11-20T13:00, to: 2026-11-20T21:00}" in yaml_text
    assert "# alice on call 16-23 Nov 2026" in yaml_text  # comments kept
    assert who_after["text"] == (
        "*payments-primary*: <@UBOB> until Fri 20 Nov 21:00 (Europe/Berlin) · override"
    )
    assert refused["response_type"] == "ephemeral"
    assert "not a member of any team" in refused["text"] and "USTRANGER" in refused["text"]
    assert "'zed' is not a member of any team" in unknown["text"]
    assert "is not after" in backwards["text"]

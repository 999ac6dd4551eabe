"""The Slack flow through the real bot: signed interactions in, the stand-in's calls and
the database checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bot.remediation.audit import trail
from bot.remediation.slack import DENY_VIEW
from tests.chat.signing import interaction_body, view_submission
from tests.chat.slack_bot import ALICE, BOB, STRANGER, checkout_down, slack_bot
from tests.chat.standin import SlackStandin
from tests.helpers import Clock, RunningBot, eventually
from tests.remediation.conftest import RECORDER

RUNBOOK = """---
title: Checkout down
match: {{alertname: CheckoutDown}}
actions:
  - name: record
    description: records its arguments
    run: ["{py}", "{script}", "{out}", "--cluster", "{{{{ labels.cluster }}}}"]
    params: {{cluster: "^[a-z0-9-]{{1,20}}$"}}
    approvers: [team:payments]
---
# Checkout down
"""


async def _setup(running: RunningBot, tmp_path: Path) -> Path:
    script, out = tmp_path / "recorder.py", tmp_path / "argv.jsonl"
    script.write_text(RECORDER, encoding="utf-8")
    book = RUNBOOK.format(py=sys.executable, script=script, out=out)
    root = running.bot.settings.config_dir
    (root / "runbooks" / "checkout-down.md").write_text(book, encoding="utf-8")
    assert await running.bot.reload()
    return out


async def _open(running: RunningBot, cluster: str = "eu1") -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{running.url}/webhooks/alertmanager", data=checkout_down(cluster)) as r,
    ):
        assert r.status == 200


def _ephemerals(slack: SlackStandin, user: str) -> list[dict[str, Any]]:
    return [
        c.params
        for c in slack.calls_to("chat.postEphemeral", ok_only=True)
        if c.params.get("user") == user
    ]


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    return {
        e["action_id"]: e["value"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    }


async def test_button_confirm_approve_run_and_report_in_the_thread(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    slack = slack_standin
    async with slack_bot(tmp_path, database_url, slack, Clock()) as (running, sender):
        out = await _setup(running, tmp_path)
        await _open(running)
        [incident] = await eventually(lambda: slack.channel_messages("#payments"))
        assert _buttons(incident.blocks)["remediate:record"] == "1"

        await sender.press("remediate:record", user_id=ALICE, value="1")
        [confirm] = await eventually(lambda: _ephemerals(slack, ALICE))
        shown = json.dumps(confirm["blocks"])
        assert '\\"--cluster\\", \\"eu1\\"' in shown  # the exact argv is shown
        value = _buttons(confirm["blocks"])["remediation:confirm"]

        await sender.press("remediation:confirm", user_id=ALICE, value=value)
        thread = lambda: slack.thread(incident.channel, incident.ts)  # noqa: E731
        asks = await eventually(
            lambda: [m for m in thread() if "remediation:approve" in _buttons(m.blocks)]
        )
        run_id = _buttons(asks[0].blocks)["remediation:approve"]

        await sender.press("remediation:approve", user_id=ALICE, value=run_id)
        await sender.press("remediation:approve", user_id=STRANGER, value=run_id)
        refusals = await eventually(
            lambda: len(_ephemerals(slack, ALICE)) == 2 and _ephemerals(slack, STRANGER)
        )
        assert "alice requested this run" in _ephemerals(slack, ALICE)[1]["text"]
        assert "slack:USTRANGER may not approve" in refusals[0]["text"]
        assert not out.exists()

        await sender.press("remediation:approve", user_id=BOB, value=run_id)
        done = await eventually(lambda: [m for m in thread() if "sha256" in m.text])
        assert "succeeded: exit 0" in done[0].text and "sha256 `" in done[0].text
        assert "recorded 2 arguments" in done[0].text
        page = f"{running.bot.settings.base_url}/incidents/1#run-{run_id}"
        assert f"<{page}|Output and audit of run #{run_id}>" in done[0].text
        assert json.loads(out.read_text())["argv"] == ["--cluster", "eu1"]
        approval = slack.messages[(asks[0].channel, asks[0].ts)]
        await eventually(lambda: "succeeded" in approval.text)
        assert "remediation:approve" not in _buttons(approval.blocks)  # no more buttons
        events = await running.bot.store.read(lambda s: trail(s, 1))
        assert [(e.kind.removeprefix("remediation_"), e.actor) for e in events] == [
            ("requested", "alice"),
            ("approval_refused", "alice"),
            ("approval_refused", "slack:USTRANGER"),
            ("approved", "bob"),
            ("started", "pagerbot"),
            ("finished", "pagerbot"),
        ]


async def test_hostile_label_through_the_button_is_refused_and_recorded(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    slack = slack_standin
    async with slack_bot(tmp_path, database_url, slack, Clock()) as (running, sender):
        out = await _setup(running, tmp_path)
        await _open(running, cluster="eu1;rm -rf /")
        await eventually(lambda: slack.channel_messages("#payments"))
        await sender.press("remediate:record", user_id=BOB, value="1")
        [refusal] = await eventually(lambda: _ephemerals(slack, BOB))
        assert refusal["text"].startswith(":no_entry: parameter cluster: value 'eu1;rm -rf /'")
        assert "blocks" not in refusal  # no confirm button to press
        events = await running.bot.store.read(lambda s: trail(s, 1))
        assert [(e.kind, e.actor) for e in events] == [("remediation_refused", "bob")]
        assert not out.exists()


async def test_deny_button_asks_why_and_records_the_reason(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    slack = slack_standin
    async with slack_bot(tmp_path, database_url, slack, Clock()) as (running, sender):
        out = await _setup(running, tmp_path)
        await _open(running)
        [incident] = await eventually(lambda: slack.channel_messages("#payments"))
        decision = await running.bot.remediation.request(1, "record", "alice", trigger="slack")
        assert decision.run is not None
        run_id = str(decision.run.id)

        await sender.press("remediation:deny", user_id=BOB, value=run_id, trigger_id="T-deny")
        [opened] = await eventually(lambda: slack.calls_to("views.open", ok_only=True))
        assert opened.params["trigger_id"] == "T-deny"
        view = opened.params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert (view["callback_id"], view["private_metadata"]) == (DENY_VIEW, run_id)
        run = await running.bot.remediation.get(1)
        assert run is not None and run.state == "requested"  # nothing decided by the press

        # A stranger's submission is refused in the dialog; bob's reason is recorded.
        status, refused = await sender.post(
            interaction_body(_deny_submission(STRANGER, run_id, "nope"))
        )
        assert status == 200 and isinstance(refused, dict)
        assert refused["response_action"] == "errors"
        assert "may not" in refused["errors"]["reason"]
        status, closed = await sender.post(
            interaction_body(_deny_submission(BOB, run_id, "peak traffic"))
        )
        assert status == 200 and closed == ""  # an empty ack closes the dialog

        async def denied() -> bool:
            run = await running.bot.remediation.get(1)
            return run is not None and run.state == "denied" and run.decided_by == "bob"

        await eventually(denied)
        events = await running.bot.store.read(lambda s: trail(s, 1))
        [denial] = [e for e in events if e.kind == "remediation_denied"]
        assert "peak traffic" in denial.text
        assert not out.exists()
        assert incident.ts


def _deny_submission(user: str, run_id: str, reason: str) -> dict[str, Any]:
    """The deny dialog, submitted."""
    values = {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}
    return view_submission(DENY_VIEW, user_id=user, private_metadata=run_id, values=values)


async def test_incident_run_command_shows_the_same_confirmation(
    tmp_path: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    slack = slack_standin
    async with slack_bot(tmp_path, database_url, slack, Clock()) as (running, sender):
        out = await _setup(running, tmp_path)
        await _open(running)
        await eventually(lambda: slack.channel_messages("#payments"))
        answer = await sender.command("/incident", "run record INC-1", user_id=ALICE)
        assert answer["response_type"] == "ephemeral"
        assert answer["text"] == "Remediation record for INC-1: see above."
        [confirm] = await eventually(lambda: _ephemerals(slack, ALICE))
        assert '\\"--cluster\\", \\"eu1\\"' in json.dumps(confirm["blocks"])
        assert "remediation:confirm" in _buttons(confirm["blocks"])
        unknown = await sender.command("/incident", "run nope INC-1", user_id=ALICE)
        assert unknown["text"] == (
            ":warning: INC-1 has no action 'nope' (runbook checkout-down offers: record)"
        )
        assert len(_ephemerals(slack, ALICE)) == 1  # the answer says it: nothing else is sent
        usage = await sender.command("/incident", "run", user_id=ALICE)
        assert "`run` takes an action name" in usage["text"]
        assert not out.exists()  # shown, not run: the approval comes next

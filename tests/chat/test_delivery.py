"""Slack delivery through the real bot: webhook in, Slack Web API stand-in out."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import sqlalchemy as sa
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.blocks import BLOCKS_BUDGET
from bot.chat.pacing import Pacer
from bot.chat.slack import EVENT_TYPE, SlackNotifier
from bot.store.tables import outbox
from tests.chat.standin import Message, SlackStandin
from tests.chat.test_blocks import assert_inert, texts
from tests.helpers import Clock, RunningBot, am_alert, am_webhook, eventually, running_bot

ALICE_DM = "DU01ALICE"


@pytest.fixture
def slack_config(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    (root / "rules").mkdir(parents=True)
    (root / "runbooks").mkdir()
    (root / "rules" / "rules.yaml").write_text(
        """
teams:
  payments:
    channel: "#payments"
    members: {alice: {slack: U01ALICE}, bob: {slack: U02BOB}}
escalation_policies:
  payments:
    steps:
      - {notify: user:alice, after: 0m}
defaults:
  group_by: [alertname]
routes:
  - match: {team: payments}
    group_by: [alertname, cluster]
    team: payments
    escalation: payments
""",
        encoding="utf-8",
    )
    (root / "runbooks" / "checkout-latency-high.md").write_text(
        """---
title: Checkout latency high
match: {alertname: CheckoutLatencyHigh}
actions:
  - name: restart-checkout
    run: [kubectl, rollout, restart, "deployment/{{ labels.deployment }}"]
    params: {deployment: "^[a-z0-9-]{1,63}$"}
    approvers: [team:payments]
---
# Checkout latency high
""",
        encoding="utf-8",
    )
    return root


def notifier(standin: SlackStandin, *, interval: float = 0.0, timeout: int = 1) -> SlackNotifier:
    client = AsyncWebClient(
        token="xoxb-test", base_url=standin.api_url, timeout=timeout, retry_handlers=[]
    )
    return SlackNotifier(client, pacer=Pacer(interval=interval))


@asynccontextmanager
async def slack_bot(
    config: Path, database_url: str, standin: SlackStandin, **kwargs: Any
) -> AsyncIterator[RunningBot]:
    kwargs.setdefault("notifier", notifier(standin))
    async with running_bot(config, database_url, public_url="https://bot.example", **kwargs) as rb:
        yield rb


async def post(rb: RunningBot, *alerts: dict[str, Any], group_key: str = "g") -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{rb.url}/webhooks/alertmanager",
            data=io.BytesIO(am_webhook(*alerts, group_key=group_key)),
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()


def checkout(status: str = "firing", **labels: str) -> dict[str, Any]:
    labels = {"alertname": "CheckoutLatencyHigh", "team": "payments", "cluster": "eu-1", **labels}
    return am_alert(status, annotations={"summary": "p99 above SLO"}, **labels)


async def pending(rb: RunningBot) -> int:
    query = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.done_at.is_(None))
    return int(await rb.bot.store.read(lambda s: s.connection().execute(query).scalar_one()))


async def drain(rb: RunningBot, clock: Clock, rounds: int = 12) -> None:
    """Deliver by hand until the outbox is empty, moving the clock past each backoff."""
    for _ in range(rounds):
        await rb.bot.escalation_tick()
        if not await rb.bot.dispatcher.deliver_due():
            if not await pending(rb):
                return
            clock.advance(minutes=6)
    raise AssertionError(f"outbox still holds {await pending(rb)} entries")


def valid_blocks(message: Message) -> list[dict[str, Any]]:
    parsed = [Block.parse(b) for b in message.blocks]
    assert all(p is not None for p in parsed)
    assert len(orjson.dumps(message.blocks)) <= BLOCKS_BUDGET
    return [p.to_dict() for p in parsed if p is not None]


def action_ids(message: Message) -> set[str]:
    return {e["action_id"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]}


async def test_one_message_per_incident_updated_in_place(
    slack_config: Path, database_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    async with slack_bot(slack_config, database_url, slack_standin, clock=clock) as rb:
        await rb.bot.dispatcher.stop()
        await post(rb, checkout(pod="p1"))
        await drain(rb, clock)
        [message] = slack_standin.channel_messages("#payments")
        blocks = valid_blocks(message)
        assert blocks[0]["text"]["text"] == "INC-1 · p99 above SLO"
        body = "\n".join(texts(message.blocks))
        assert "1 firing · 0 resolved" in body
        assert "<https://bot.example/runbooks/checkout-latency-high|Checkout latency high>" in body
        assert "<@U01ALICE>" in body
        assert action_ids(message) == {
            "incident:ack",
            "incident:resolve",
            "incident:escalate",
            "incident:silence",
            "remediate:restart-checkout",
        }
        assert message.metadata is not None and message.metadata["event_type"] == EVENT_TYPE

        thread = slack_standin.thread("#payments", message.ts)
        assert "Incident opened: p99 above SLO" in thread[0].text
        assert any("<@U01ALICE>" in m.text for m in thread)  # the page, mentioned

        [dm] = slack_standin.channel_messages(ALICE_DM)
        dm_body = "\n".join(texts(dm.blocks))
        assert "You are paged for *INC-1*" in dm_body
        assert f"p{message.ts.replace('.', '')}|open the incident>" in dm_body
        assert action_ids(dm) == {"incident:ack", "incident:resolve", "incident:escalate"}

        await post(rb, checkout(pod="p1"), checkout(pod="p2"))
        await drain(rb, clock)
        assert message.edits >= 1
        assert "2 firing · 0 resolved" in "\n".join(texts(message.blocks))
        latest = slack_standin.thread("#payments", message.ts)[-1]
        assert "1 alert firing: CheckoutLatencyHigh" in latest.text

        await rb.bot.act("ack", 1, "bob")
        await drain(rb, clock)
        assert "acknowledged" in "\n".join(texts(message.blocks))
        assert "incident:ack" not in action_ids(message)
        assert "Acknowledged by bob" in slack_standin.thread("#payments", message.ts)[-1].text

        await post(rb, checkout("resolved", pod="p1"), checkout("resolved", pod="p2"))
        await drain(rb, clock)
        assert action_ids(message) == {"feedback:actionable", "feedback:noise"}

        assert len(slack_standin.channel_messages("#payments")) == 1
        assert len(slack_standin.channel_messages(ALICE_DM)) == 1
        for call in slack_standin.calls_to("chat.update"):
            assert call.params["ts"] == message.ts


async def test_a_storm_coalesces_into_one_update(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    async with slack_bot(slack_config, sqlite_url, slack_standin, clock=clock) as rb:
        await rb.bot.dispatcher.stop()
        await post(rb, checkout(pod="p0"))
        await drain(rb, clock)
        before = len(slack_standin.calls_to("chat.postMessage"))
        firing = [checkout(pod="p0")]
        for i in range(1, 40):
            firing.append(checkout(pod=f"p{i}"))
            await post(rb, *firing)
        await drain(rb, clock)
        [message] = slack_standin.channel_messages("#payments")
        assert len(slack_standin.calls_to("chat.update")) == 1
        assert len(slack_standin.calls_to("chat.postMessage")) == before + 1  # one thread reply
        assert "40 firing" in "\n".join(texts(message.blocks))


async def test_rate_limited_post_waits_for_retry_after_and_lands_once(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    async with slack_bot(slack_config, sqlite_url, slack_standin, clock=clock) as rb:
        await rb.bot.dispatcher.stop()
        slack_standin.fail("chat.postMessage", status=429, retry_after=1)
        await post(rb, checkout())
        await drain(rb, clock)
        posts = slack_standin.calls_to("chat.postMessage")
        assert posts[0].outcome == "429"
        assert posts[1].at - posts[0].at >= 1.0  # Retry-After honoured
        assert len(slack_standin.channel_messages("#payments")) == 1
        assert not slack_standin.calls_to("conversations.history")  # a 429 posts nothing


@pytest.mark.parametrize(
    "lost", ["incident message", "thread reply", "page mention", "direct message"]
)
async def test_server_errors_and_lost_answers_never_duplicate(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin, lost: str
) -> None:
    """Two 5xx answers, then a post that lands but whose answer times out."""
    clock = Clock()
    async with slack_bot(slack_config, sqlite_url, slack_standin, clock=clock) as rb:
        await rb.bot.dispatcher.stop()
        await post(rb, checkout())
        await rb.bot.escalation_tick()
        before = ["incident message", "thread reply", "page mention", "direct message"]
        slack_standin.fail("chat.postMessage", 2, status=500, after=before.index(lost))
        slack_standin.fail("chat.postMessage", 1, status=503)
        slack_standin.fail("chat.postMessage", 1, delay=1.5, apply=True)
        await drain(rb, clock)
    [message] = slack_standin.channel_messages("#payments")
    thread = slack_standin.thread("#payments", message.ts)
    assert sum("Incident opened" in m.text for m in thread) == 1
    assert sum("<@U01ALICE>" in m.text for m in thread) == 1
    assert len(slack_standin.channel_messages(ALICE_DM)) == 1
    metas = [m.metadata for m in slack_standin.messages.values() if m.metadata]
    keys = [meta["event_payload"]["key"] for meta in metas]
    assert len(keys) == len(set(keys)) == len(slack_standin.messages)
    lookups = slack_standin.calls_to("conversations.history") + slack_standin.calls_to(
        "conversations.replies"
    )
    assert lookups  # the retry looked before posting again


async def test_restart_delivers_a_pending_outbox_exactly_once(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    async with slack_bot(slack_config, sqlite_url, slack_standin) as rb:
        await rb.bot.dispatcher.stop()
        for cluster in ("eu-1", "eu-2", "us-1"):
            await post(rb, checkout(cluster=cluster), group_key=cluster)
        await rb.bot.escalation_tick()
        assert await pending(rb) == 6  # three messages, three pages
        # The first post lands but the bot stops before hearing back.
        slack_standin.fail("chat.postMessage", delay=3, apply=True)
        rb.bot.dispatcher.start()
        await eventually(lambda: slack_standin.calls_to("chat.postMessage"))
    assert len(slack_standin.channel_messages("#payments")) == 1

    async with slack_bot(slack_config, sqlite_url, slack_standin) as rb:
        await eventually(pending_is_zero(rb))
    titles = sorted(m.text for m in slack_standin.channel_messages("#payments"))
    assert len(titles) == 3, titles
    assert len(slack_standin.channel_messages(ALICE_DM)) == 3
    for message in slack_standin.channel_messages("#payments"):
        thread = slack_standin.thread("#payments", message.ts)
        assert sum("Incident opened" in m.text for m in thread) == 1


def pending_is_zero(rb: RunningBot) -> Any:
    async def check() -> bool:
        return await pending(rb) == 0

    return check


async def test_alert_text_cannot_ping_mention_or_hide_links(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    evil = "<!channel> <@U999> <http://evil.example|click> &lt;!here&gt; 💥"
    async with slack_bot(slack_config, sqlite_url, slack_standin, clock=clock) as rb:
        await rb.bot.dispatcher.stop()
        hostile = checkout(cluster=evil, pod=evil, note="x" * 5000)
        hostile["annotations"] = {"summary": evil, "description": evil * 100}
        hostile["generatorURL"] = f"http://prometheus.example/graph?{evil}"
        await post(rb, hostile)
        await rb.bot.act("note", 1, "bob", evil)
        await drain(rb, clock)
        await rb.bot.notifier.notify_user("U02BOB", f"handoff {evil}")
    assert slack_standin.messages
    for message in slack_standin.messages.values():
        assert_inert(message.text)
        for text in texts(message.blocks):
            assert_inert(text)
    [message] = slack_standin.channel_messages("#payments")
    assert "&lt;!channel&gt;" in "\n".join(texts(message.blocks))
    thread = slack_standin.thread("#payments", message.ts)
    assert any("&amp;lt;!here&amp;gt;" in m.text for m in thread)  # the note, escaped
    [handoff] = slack_standin.channel_messages("DU02BOB")
    assert handoff.text.startswith("handoff &lt;!channel&gt;")


async def test_ten_thousand_alerts_in_one_incident_fit_slacks_limits(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    async with slack_bot(slack_config, sqlite_url, slack_standin, clock=clock) as rb:
        await rb.bot.dispatcher.stop()
        await post(rb, *(checkout(pod=f"pod-{i:05d}", long="v" * 200) for i in range(10_000)))
        await drain(rb, clock)
    [message] = slack_standin.channel_messages("#payments")
    blocks = valid_blocks(message)
    assert len(blocks) <= 50
    body = "\n".join(texts(message.blocks))
    assert "10,000 firing" in body
    shown = body.count(":fire:")
    assert 1 <= shown <= 10
    assert f"and {10_000 - shown:,} more firing" in body
    assert all(len(t) <= 3000 for t in texts(message.blocks))


async def test_messages_to_one_channel_are_paced(
    slack_config: Path, sqlite_url: str, slack_standin: SlackStandin
) -> None:
    clock = Clock()
    paced = notifier(slack_standin, interval=0.2)
    bot = slack_bot(slack_config, sqlite_url, slack_standin, clock=clock, notifier=paced)
    async with bot as rb:
        await rb.bot.dispatcher.stop()
        for cluster in ("a", "b", "c", "d"):
            await post(rb, checkout(cluster=cluster), group_key=cluster)
        await drain(rb, clock)
    channel = slack_standin.channel_id("#payments")
    sent = [
        c.at
        for c in slack_standin.calls
        if c.method in ("chat.postMessage", "chat.update")
        and slack_standin.channel_id(str(c.params.get("channel", ""))) == channel
    ]
    assert len(sent) >= 8  # four messages, four thread replies
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.19


async def test_standin_socket_mode_end_answers_and_records_acks(
    slack_standin: SlackStandin,
) -> None:
    client = AsyncWebClient(token="xapp-test", base_url=slack_standin.api_url)
    url = (await client.apps_connections_open(app_token="xapp-test"))["url"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello"
        await slack_standin.socket_send({"envelope_id": "e1", "type": "slash_commands"})
        envelope = await ws.receive_json()
        await ws.send_json({"envelope_id": envelope["envelope_id"]})
        await eventually(lambda: slack_standin.socket_received)
    assert slack_standin.socket_received == [{"envelope_id": "e1"}]
    await asyncio.sleep(0)

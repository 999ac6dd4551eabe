"""Every Slack listener, registered in one table: slash commands answer within Slack's
3 seconds (the reply itself when the work is quick, else "working on it" and the reply
through response_url); buttons ack at once and then work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import buttons, commands, notes
from bot.chat.context import Caller, Ctx, Reply
from bot.chat.oncall_handlers import COVER_ACTION
from bot.remediation import slack as remediation_slack

if TYPE_CHECKING:
    from bot.app import Pagerbot

log = logging.getLogger(__name__)

BUTTONS = (
    "incident:ack",
    "incident:resolve",
    "incident:escalate",
    "incident:silence",
    "feedback:actionable",
    "feedback:noise",
    COVER_ACTION,
)
CommandRunner = Callable[[Ctx, str], Awaitable[Reply]]


async def answer_in_time(
    ack: AsyncAck, respond: AsyncRespond, work: Awaitable[Reply], within: float
) -> None:
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=within)
    if task in done:
        await ack(**task.result().slash_body())
        return
    await ack(text=":hourglass_flowing_sand: Working on it…", response_type="ephemeral")
    await respond(**(await task).slash_body())


def _command(bot: Pagerbot, run: CommandRunner) -> Callable[..., Awaitable[None]]:
    async def listener(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        ctx = Ctx(bot, client, Caller.of_command(body))
        work = run(ctx, str(body.get("text", "")))
        await answer_in_time(ack, respond, work, bot.settings.slack_reply_within)

    return listener


def _button(bot: Pagerbot, action_id: str) -> Callable[..., Awaitable[None]]:
    async def listener(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        caller = Caller.of_action(body)
        reply = await buttons.press(Ctx(bot, client, caller), action_id, action)
        if reply.public or not caller.channel_id:
            return  # the incident message and its thread show what changed
        await client.chat_postEphemeral(
            channel=caller.channel_id,
            user=caller.slack_id,
            text=reply.text,
            thread_ts=caller.thread_ts,
        )

    return listener


def register_listeners(app: AsyncApp, bot: Pagerbot) -> None:
    settings = bot.settings
    table_commands: list[tuple[str, CommandRunner]] = [
        (settings.slack_incident_command, commands.run_incident),
        (settings.slack_oncall_command, commands.run_oncall),
    ]
    for name, run in table_commands:
        app.command(name)(_command(bot, run))
    for action_id in BUTTONS:
        app.action(action_id)(_button(bot, action_id))
    remediation_slack.register(app, bot)
    notes.register(app, bot)

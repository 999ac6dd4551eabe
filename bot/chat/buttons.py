"""The buttons on incident messages, page DMs and cover requests: value → action.
Action ids are the contract with the message builders (see `bot.chat.blocks`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from bot.chat import incident_handlers as inc
from bot.chat import oncall_handlers as onc
from bot.chat.commands import guarded
from bot.chat.context import Ctx, Reply, UsageError
from bot.chat.escape import mrkdwn
from bot.store import chat as db
from bot.store import queries

FEEDBACK = {"feedback:actionable": "actionable", "feedback:noise": "noise"}
INCIDENT_ACTIONS = {
    "incident:ack": "ack",
    "incident:resolve": "resolve",
    "incident:escalate": "escalate",
}


def _number(value: str) -> int:
    if not value.isdigit():
        raise UsageError(f"this button carries no incident ({value!r})")
    return int(value)


async def _incident(ctx: Ctx, value: str) -> Any:
    number = _number(value)
    incident = await ctx.bot.store.read(lambda s: queries.incident(s, number))
    if incident is None:
        raise UsageError(f"there is no incident INC-{number}")
    return incident


async def _press(ctx: Ctx, action_id: str, action: dict[str, Any]) -> Reply:
    if action_id in INCIDENT_ACTIONS:
        incident = await _incident(ctx, str(action.get("value", "")))
        return await inc.act_on(ctx, INCIDENT_ACTIONS[action_id], incident)
    if action_id == "incident:silence":
        chosen = str((action.get("selected_option") or {}).get("value", ""))
        number, _, length = chosen.partition(":")
        return await inc.silence_incident(ctx, await _incident(ctx, number), length)
    if action_id in FEEDBACK:
        return await _feedback(ctx, _number(str(action.get("value", ""))), FEEDBACK[action_id])
    if action_id == onc.COVER_ACTION:
        return await onc.accept_cover(ctx, _number(str(action.get("value", ""))))
    raise UsageError(f"unknown button {action_id!r}")


async def _feedback(ctx: Ctx, number: int, answer: str) -> Reply:
    person = inc.person_of(ctx)
    bot = ctx.bot
    found = await bot.store.write(
        partial(
            db.record_feedback,
            number=number,
            user=person.name,
            slack_user=person.slack_id,
            answer=answer,
            now=bot.clock(),
        )
    )
    if not found:
        raise UsageError(f"there is no incident INC-{number}")
    return Reply(f"Thanks, {mrkdwn(person.name)}: INC-{number} recorded as *{answer}*.")


async def press(ctx: Ctx, action_id: str, action: dict[str, Any]) -> Reply:
    return await guarded(_press(ctx, action_id, action))

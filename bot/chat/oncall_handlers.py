"""`/oncall` subcommands and the cover-request button: who is on call, the next shifts,
overrides written through the on-call write-back, and asking teammates to take over."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from bot.chat.authz import Person, identify, may_change_oncall
from bot.chat.context import Ctx, OncallCommand, Refused, Reply, UsageError
from bot.chat.escape import mrkdwn
from bot.chat.incident_handlers import first_time, forget, person_of
from bot.chat.when import parse_window
from bot.escalation.targets import stored_overrides
from bot.oncall import DbOverride, final_shifts, who_is_on_call
from bot.oncall.writeback import OverrideError, Written, add_override
from bot.rules.model import RulesConfig, Schedule
from bot.store import chat as db

COVER_ACTION = "cover:accept"
_SHIFTS_SHOWN = 10
_SHIFTS_AHEAD = timedelta(days=28)


def _when(value: datetime, tz: str) -> str:
    return f"{value.astimezone(ZoneInfo(tz)):%a %d %b %H:%M}"


def _who(rules: RulesConfig, user: str) -> str:
    member = rules.users().get(user)
    return f"<@{member.slack}>" if member and member.slack else mrkdwn(user)


def _schedule(rules: RulesConfig, name: str) -> Schedule:
    found = rules.schedules.get(name)
    if found is None:
        known = ", ".join(sorted(rules.schedules)) or "none configured"
        raise UsageError(f"no schedule named {name!r} (schedules: {known})")
    return found


def _members(schedule: Schedule) -> set[str]:
    return {m for layer in schedule.layers for m in layer.members}


def _schedule_of(rules: RulesConfig, named: str | None, user: str, what: str) -> str:
    """The schedule named, else the only one `user` rotates in."""
    if named is not None:
        _schedule(rules, named)
        return named
    mine = sorted(n for n, s in rules.schedules.items() if user in _members(s))
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise UsageError(f"{user} is in no schedule's rotation: name the schedule for {what}")
    raise UsageError(f"{user} is in {len(mine)} schedules ({', '.join(mine)}): name one")


async def _overrides(ctx: Ctx) -> dict[str, list[DbOverride]]:
    now = ctx.bot.clock()
    return await ctx.bot.store.read(lambda s: stored_overrides(s.connection(), now))


async def who(ctx: Ctx, command: OncallCommand) -> Reply:
    rules, now = ctx.bot.rules, ctx.bot.clock()
    names = [command.schedule] if command.schedule else sorted(rules.schedules)
    if not names:
        return Reply("No schedules are configured.")
    extra = await _overrides(ctx)
    lines = []
    for name in names:
        schedule = _schedule(rules, name)
        shift = who_is_on_call(schedule, now, extra.get(name, ()))
        if shift is None:
            lines.append(f"*{mrkdwn(name)}*: nobody — a gap in coverage")
            continue
        lines.append(
            f"*{mrkdwn(name)}*: {_who(rules, shift.user)} until "
            f"{_when(shift.end, schedule.timezone)} ({schedule.timezone})"
            + (" · override" if shift.layer is None else "")
        )
    return Reply("\n".join(lines))


async def schedule(ctx: Ctx, command: OncallCommand) -> Reply:
    assert command.schedule is not None
    rules, now = ctx.bot.rules, ctx.bot.clock()
    found = _schedule(rules, command.schedule)
    extra = await _overrides(ctx)
    shifts = final_shifts(found, now, now + _SHIFTS_AHEAD, extra.get(command.schedule, ()))
    if not shifts:
        return Reply(f"*{mrkdwn(command.schedule)}*: nobody is on call in the next 28 days")
    tz = found.timezone
    lines = [f"*{mrkdwn(command.schedule)}* — next shifts ({tz})"]
    cursor = now
    for shift in shifts[:_SHIFTS_SHOWN]:
        if shift.start > cursor:
            lines.append(f"• {_when(cursor, tz)} → {_when(shift.start, tz)}  _gap: nobody_")
        tag = " · override" if shift.layer is None else ""
        lines.append(
            f"• {_when(shift.start, tz)} → {_when(shift.end, tz)}  {_who(rules, shift.user)}{tag}"
        )
        cursor = shift.end
    return Reply("\n".join(lines))


def _member(rules: RulesConfig, token: str) -> str:
    """A mention's Slack id or a member name → the member name."""
    users = rules.users()
    if token in users:
        return token
    for name, member in users.items():
        if member.slack == token:
            return name
    raise UsageError(f"{token!r} is not a member of any team in the config")


async def _write_override(
    ctx: Ctx, schedule: str, user: str, start: datetime, end: datetime, by: str
) -> Written:
    bot = ctx.bot
    try:
        written = await add_override(
            bot.config,
            bot.settings.config_dir,
            bot.store,
            schedule=schedule,
            user=user,
            start=start,
            end=end,
            created_by=by,
        )
    except OverrideError as exc:
        raise UsageError(str(exc)) from None
    if written.file is not None:
        await bot.reload()  # take the new file now, not at the next poll
    return written


def _where(written: Written) -> str:
    return f"written to `{written.file}`" if written.file else "stored in the database"


async def override(ctx: Ctx, command: OncallCommand) -> Reply:
    assert command.user is not None and command.window is not None
    rules = ctx.bot.rules
    person = _on_call_changer(ctx)
    user = _member(rules, command.user)
    name = _schedule_of(rules, command.schedule, user, "the override")
    tz = _schedule(rules, name).timezone
    start, end = parse_window(command.window, ZoneInfo(tz), ctx.bot.clock())
    if not await first_time(ctx, "override"):
        return Reply("Already done: Slack delivered this override twice.")
    try:
        written = await _write_override(ctx, name, user, start, end, person.name)
    except BaseException:
        await forget(ctx, "override")
        raise
    return Reply(
        f":calendar: {mrkdwn(person.name)} put {_who(rules, user)} on call for "
        f"*{mrkdwn(name)}* from {_when(start, tz)} to {_when(end, tz)} ({tz}); "
        f"{_where(written)}",
        public=True,
    )


def _on_call_changer(ctx: Ctx) -> Person:
    person = person_of(ctx)
    reason = may_change_oncall(person)
    if reason is not None:
        raise Refused(reason)
    return person


def cover_blocks(text: str, cover_id: int) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "I'll take it"},
                    "style": "primary",
                    "action_id": COVER_ACTION,
                    "value": str(cover_id),
                }
            ],
        },
    ]


async def _dm(ctx: Ctx, slack_id: str, text: str, blocks: list[dict[str, Any]] | None) -> Any:
    opened = await ctx.client.conversations_open(users=slack_id)
    channel = opened["channel"]["id"]
    return await ctx.client.chat_postMessage(channel=channel, text=text, blocks=blocks)


async def cover(ctx: Ctx, command: OncallCommand) -> Reply:
    assert command.window is not None
    rules, bot = ctx.bot.rules, ctx.bot
    person = _on_call_changer(ctx)
    assert person.member is not None
    name = _schedule_of(rules, command.schedule, person.member, "the cover request")
    found = _schedule(rules, name)
    start, end = parse_window(command.window, ZoneInfo(found.timezone), bot.clock())
    users = rules.users()
    mates = sorted(m for m in _members(found) - {person.member} if users.get(m) and users[m].slack)
    if not mates:
        raise UsageError(f"nobody else in {name}'s rotation has a Slack id to ask")
    if not await first_time(ctx, "cover"):
        return Reply("Already asked: Slack delivered this cover request twice.")
    tz = found.timezone
    cover_id = await bot.store.write(
        partial(
            db.add_cover_request,
            schedule=name,
            requester=person.member,
            start=start,
            end=end,
            now=bot.clock(),
        )
    )
    text = (
        f"{_who(rules, person.member)} asks for cover on *{mrkdwn(name)}* from "
        f"{_when(start, tz)} to {_when(end, tz)} ({tz}). The first to accept takes the shift."
    )
    messages = []
    for mate in mates:
        slack_id = users[mate].slack
        assert slack_id is not None
        sent = await _dm(ctx, slack_id, text, cover_blocks(text, cover_id))
        messages.append([str(sent["channel"]), str(sent["ts"])])
    await bot.store.write(partial(db.set_cover_messages, cover_id=cover_id, messages=messages))
    asked = ", ".join(_who(rules, m) for m in mates)
    return Reply(
        f"Asked {asked} to cover *{mrkdwn(name)}* from {_when(start, tz)} to "
        f"{_when(end, tz)} ({tz}); the first to accept gets the override. I'll tell you."
    )


async def accept_cover(ctx: Ctx, cover_id: int) -> Reply:
    """The cover button: the first teammate to press it gets the override."""
    bot, rules = ctx.bot, ctx.bot.rules
    request = await bot.store.read(lambda s: db.cover_request(s, cover_id))
    if request is None:
        return Reply("That cover request no longer exists.")
    person = identify(rules, ctx.caller.slack_id, ctx.caller.user_name)
    found = rules.schedules.get(request.schedule)
    if found is None:
        return Reply(f"Schedule {mrkdwn(request.schedule)} no longer exists.")
    if person.member is None or person.member not in _members(found):
        raise Refused(f"only people in {request.schedule}'s rotation can take this shift")
    if person.member == request.requester:
        return Reply("That is your own request.")
    if request.accepted_by is not None:
        return Reply(f"{_who(rules, request.accepted_by)} already took it. Thanks anyway!")
    now = bot.clock()
    if request.ends_at <= now:
        return Reply("Too late: that shift is over.")
    member = person.member
    won = await bot.store.write(partial(db.accept_cover, cover_id=cover_id, user=member, now=now))
    if not won:
        return Reply("Someone else was quicker. Thanks anyway!")
    start = max(request.starts_at, now)
    try:
        written = await _write_override(
            ctx, request.schedule, member, start, request.ends_at, member
        )
    except BaseException:
        await bot.store.write(partial(db.release_cover, cover_id=cover_id, user=member))
        raise
    tz = found.timezone
    done = (
        f"{_who(rules, member)} covers *{mrkdwn(request.schedule)}* for "
        f"{_who(rules, request.requester)} from {_when(start, tz)} to "
        f"{_when(request.ends_at, tz)} ({tz}); {_where(written)}."
    )
    for channel, ts in orjson.loads(request.messages):
        await ctx.client.chat_update(
            channel=channel, ts=ts, text=done, blocks=[_section(":white_check_mark: " + done)]
        )
    requester = rules.users().get(request.requester)
    if requester is not None and requester.slack:
        await _dm(ctx, requester.slack, done, None)
    return Reply(done)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
